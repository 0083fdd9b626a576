"""A Claude-Code-shaped Messages request (anthropic-api.md §10.4), rebuilt from the published
captures of Claude Code 2.0.36–2.1.150: the billing line, two long system blocks with 1-hour
cache markers, its 16 core tools with draft-07 schemas, `<system-reminder>` user blocks,
`metadata.user_id`, thinking on, `context_management`, `max_tokens: 32000`, and its headers.
The prompt texts are our own stand-ins of the same size and shape.
"""

from __future__ import annotations

from typing import Any

SESSION = "5b1c6f0e-3f3a-4c55-9a8e-2f1d9c7a4b10"
USER_ID = f"user_4f2a9c_account_7d1e0b2c-9a44-4f6e-b1c3-5e8d2a6f9c01_session_{SESSION}"
BETAS = ["claude-code-20250219", "interleaved-thinking-2025-05-14",
         "fine-grained-tool-streaming-2025-05-14", "context-management-2025-06-27"]
HEADERS = {"x-app": "cli", "User-Agent": "claude-cli/2.0.36 (external, cli)",
           "X-Claude-Code-Session-Id": SESSION,
           "anthropic-dangerous-direct-browser-access": "true"}
BILLING = "x-anthropic-billing-header: cc_version=2.0.36.a1b; cc_entrypoint=cli; cch=3f9e2;"


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "properties": properties, "required": required, "additionalProperties": False}


_S = {"type": "string"}
_N = {"type": "number"}
_B = {"type": "boolean"}


def _tool(name: str, description: str, properties: dict[str, Any],
          required: list[str]) -> dict[str, Any]:
    return {"name": name, "description": description,
            "input_schema": _schema(properties, required)}


TOOLS: list[dict[str, Any]] = [
    _tool("Task", "Launch a new agent to handle complex, multi-step tasks autonomously.",
          {"description": _S, "prompt": _S, "subagent_type": _S},
          ["description", "prompt", "subagent_type"]),
    _tool("Bash", "Executes a given bash command in a persistent shell session.",
          {"command": _S, "timeout": _N, "description": _S, "run_in_background": _B},
          ["command"]),
    _tool("Glob", "Fast file pattern matching tool that works with any codebase size.",
          {"pattern": _S, "path": _S}, ["pattern"]),
    _tool("Grep", "A powerful search tool built on ripgrep.",
          {"pattern": _S, "path": _S, "glob": _S,
           "output_mode": {"type": "string", "enum": ["content", "files_with_matches",
                                                      "count"]},
           "-i": _B, "-n": _B, "head_limit": _N, "multiline": _B}, ["pattern"]),
    _tool("ExitPlanMode", "Prompts the user to exit plan mode and start coding.",
          {"plan": _S}, ["plan"]),
    _tool("Read", "Reads a file from the local filesystem.",
          {"file_path": _S, "offset": _N, "limit": _N}, ["file_path"]),
    _tool("Edit", "Performs exact string replacements in files.",
          {"file_path": _S, "old_string": _S, "new_string": _S,
           "replace_all": {"type": "boolean", "default": False}},
          ["file_path", "old_string", "new_string"]),
    _tool("Write", "Writes a file to the local filesystem.",
          {"file_path": _S, "content": _S}, ["file_path", "content"]),
    _tool("NotebookEdit", "Replaces the contents of a specific cell in a Jupyter notebook.",
          {"notebook_path": _S, "cell_id": _S, "new_source": _S,
           "cell_type": {"type": "string", "enum": ["code", "markdown"]},
           "edit_mode": {"type": "string", "enum": ["replace", "insert", "delete"]}},
          ["notebook_path", "new_source"]),
    _tool("WebFetch", "Fetches content from a specified URL and processes it.",
          {"url": {"type": "string", "format": "uri"}, "prompt": _S}, ["url", "prompt"]),
    _tool("TodoWrite", "Create and manage a structured task list for your coding session.",
          {"todos": {"type": "array", "items": {
              "type": "object", "additionalProperties": False,
              "required": ["content", "status", "activeForm"],
              "properties": {"content": {"type": "string", "minLength": 1},
                             "status": {"type": "string",
                                        "enum": ["pending", "in_progress", "completed"]},
                             "activeForm": {"type": "string", "minLength": 1}}}}},
          ["todos"]),
    _tool("WebSearch", "Allows Claude to search the web and use the results.",
          {"query": {"type": "string", "minLength": 2},
           "allowed_domains": {"type": "array", "items": _S},
           "blocked_domains": {"type": "array", "items": _S}}, ["query"]),
    _tool("BashOutput", "Retrieves output from a running or completed background shell.",
          {"bash_id": _S, "filter": _S}, ["bash_id"]),
    _tool("KillShell", "Kills a running background bash shell by its ID.",
          {"shell_id": _S}, ["shell_id"]),
    _tool("Skill", "Execute a skill within the main conversation.", {"command": _S},
          ["command"]),
    _tool("SlashCommand", "Execute a slash command within the main conversation.",
          {"command": _S}, ["command"]),
]


def _cli_prompt() -> str:
    rules = ("IMPORTANT: Assist with defensive security tasks only. Keep answers concise. "
             "Use the TodoWrite tool to plan tasks. Prefer Grep and Glob over Bash for "
             "searching. Never commit unless the user asks. ")
    return "You are an interactive CLI tool that helps users with software engineering tasks. " \
        + rules * 120  # ≈27 000 characters, like the 2.1.150 capture


def request_body(question: str) -> dict[str, Any]:
    ephemeral = {"type": "ephemeral", "ttl": "1h"}
    return {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "system": [{"type": "text", "text": BILLING},
                   {"type": "text", "text": "You are a Claude agent, built on Anthropic's "
                                            "Claude Agent SDK.", "cache_control": ephemeral},
                   {"type": "text", "text": _cli_prompt(), "cache_control": ephemeral}],
        "tools": TOOLS,
        "metadata": {"user_id": USER_ID},
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>\nAs you answer the user's questions, "
                                     "you can use the following context: # claudeMd ...\n"
                                     "</system-reminder>"},
            {"type": "text", "text": question, "cache_control": {"type": "ephemeral"}}]}],
    }
