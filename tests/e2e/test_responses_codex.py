"""A Codex-style agent turn on the raw wire: the request fields Codex sends, and the stream
read the way Codex reads it (dispatch on `data.type` only, execute the `function_call` item of
`response.output_item.done`, finish on `response.completed`, then the body must close).

Request shape from anthropic-api.md §13.2 / second reading §8.4: `store: false`, the whole
transcript every turn, `include`, `prompt_cache_key`, `client_metadata`, replayed reasoning
items with `encrypted_content`, `text.verbosity`, a flat `shell` function tool.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.conftest import Proxy
from tests.fakes.zai import FakeZai, Script

SHELL = {"type": "function", "name": "shell", "description": "Runs a shell command",
         "strict": False, "parameters": {
             "type": "object", "additionalProperties": False, "required": ["command"],
             "properties": {"command": {"type": "array", "items": {"type": "string"}},
                            "workdir": {"type": "string"},
                            "timeout_ms": {"type": "number"}}}}
CALL = ("<tool_calls_{nonce}>\n"
        '<call name="shell">{"command": ["ls", "-1"], "workdir": "/repo"}</call>\n'
        "</tool_calls_{nonce}>")


def codex_request(transcript: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": "GLM-4.6", "instructions": "You are Codex, a coding agent. " * 200,
            "input": transcript, "tools": [SHELL], "tool_choice": "auto",
            "parallel_tool_calls": False, "reasoning": {"effort": "medium", "summary": "auto"},
            "store": False, "stream": True, "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "thread-1", "text": {"verbosity": "medium"},
            "client_metadata": {"session_id": "s-1", "turn_id": "t-1"}}


async def codex_turn(proxy: Proxy, transcript: list[dict[str, Any]]) -> dict[str, Any]:
    """What Codex keeps from one streamed turn: the done items and the completed response."""
    done: list[dict[str, Any]] = []
    completed: dict[str, Any] | None = None
    headers = {"session-id": "s-1", "x-openai-subagent": "none"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.base_url}/responses", json=codex_request(transcript),
                             headers=headers) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            body = (await resp.read()).decode()  # returns only once the body has closed
    for frame in body.split("\n\n"):
        data = [line[6:] for line in frame.split("\n") if line.startswith("data: ")]
        if not data:
            continue
        event = json.loads(data[0])
        kind = event["type"]  # Codex ignores the `event:` line
        assert f"event: {kind}\n" in frame + "\n"
        if kind == "response.output_item.done":
            done.append(event["item"])
        elif kind == "response.completed":
            assert completed is None
            completed = event["response"]
        assert kind not in {"response.failed", "error"}, event
    assert completed is not None and body.rstrip().endswith("}")
    usage = completed["usage"]
    assert all(isinstance(usage[k], int) for k in ("input_tokens", "output_tokens",
                                                  "total_tokens"))
    return {"items": done, "response": completed}


async def test_codex_turn_with_one_shell_call(proxy: Proxy, fake: FakeZai) -> None:
    transcript: list[dict[str, Any]] = [
        {"type": "message", "role": "developer",
         "content": [{"type": "input_text", "text": "<permissions>workspace-write</permissions>"}]},
        {"type": "message", "role": "user",
         "content": [{"type": "input_text", "text": "What files are in the repo?"}]}]
    fake.push(Script(text=CALL, delta_size=6))
    first = await codex_turn(proxy, transcript)
    (call,) = [i for i in first["items"] if i["type"] == "function_call"]
    assert call["name"] == "shell" and call["status"] == "completed"
    assert json.loads(call["arguments"]) == {"command": ["ls", "-1"], "workdir": "/repo"}

    # Codex runs the command and resends the whole transcript, reasoning items included
    transcript += [{"type": "reasoning", "id": "rs_x", "summary": [],
                    "encrypted_content": "gAAAA-opaque"}, *first["items"],
                   {"type": "function_call_output", "call_id": call["call_id"],
                    "output": "README.md\nzproxy\n"}]
    fake.push(Script(text="The repo has README.md and the zproxy package."))
    second = await codex_turn(proxy, transcript)
    (message,) = second["items"]
    assert message["type"] == "message"
    assert message["content"][0]["text"] == "The repo has README.md and the zproxy package."
    assert second["response"]["store"] is False
    sent = fake.completions[-1].json["messages"]
    assert "You are Codex" in sent[0]["content"] and "workspace-write" in sent[0]["content"]
    assert "README.md\nzproxy" in sent[-1]["content"]
    assert "gAAAA-opaque" not in json.dumps(sent)
    async with aiohttp.ClientSession() as http:  # store: false → nothing to fetch
        async with http.get(f"{proxy.base_url}/responses/{second['response']['id']}") as got:
            assert got.status == 404
