"""Replay of a Claude-Code-shaped request, streaming, parsed by the official SDK; and the
dashboard and /metrics telling that traffic apart from chat completions."""

from __future__ import annotations

import json

import aiohttp
import anthropic

from tests.conftest import Proxy
from tests.e2e import claude_code
from tests.e2e.helpers import async_client as openai_client
from tests.fakes.zai import FakeZai, Script

ANSWER = ('I will look at the files first.\n<tool_calls_{nonce}>\n'
          '<call name="Bash">{"command": "ls -la src", "description": "List files"}</call>\n'
          '<call name="TodoWrite">{"todos": [{"content": "Read the code", '
          '"status": "in_progress", "activeForm": "Reading the code"}]}</call>\n'
          "</tool_calls_{nonce}>")


async def test_claude_code_request_streams_and_parses(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(thinking="The user wants the file list. I should run ls.", text=ANSWER,
                     delta_size=6, chunk_size=11))
    client = anthropic.AsyncAnthropic(base_url=proxy.url, auth_token="any-token",
                                      max_retries=0, timeout=20,
                                      default_headers=claude_code.HEADERS)
    body = claude_code.request_body("What is in src/?")
    raw_json = len(json.dumps(body))
    async with client.beta.messages.stream(betas=claude_code.BETAS, **body) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert raw_json > 30_000
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert final.content[0].signature  # type: ignore[union-attr]
    bash, todo = final.content[2], final.content[3]
    assert bash.type == "tool_use" and bash.name == "Bash"
    assert bash.input == {"command": "ls -la src", "description": "List files"}
    assert todo.type == "tool_use" and todo.input["todos"][0]["status"] == "in_progress"  # type: ignore[index]
    assert final.stop_reason == "tool_use" and final.model == body["model"]
    assert final.usage.input_tokens > 6000  # the long system prompt and 16 tools counted

    sent = fake.completions[-1]
    assert sent.query  # a normal signed upstream call; `?beta=true` never reached it
    prompt = json.dumps(sent.json["messages"], ensure_ascii=False)
    assert "x-anthropic-billing-header" not in prompt
    assert all(f'"{tool["name"]}"' in prompt or tool["name"] in prompt
               for tool in claude_code.TOOLS)
    assert "You are an interactive CLI tool" in prompt
    assert sent.json["features"]["enable_thinking"] is True
    assert sent.json["model"] == "GLM-4-6-API-V1"


async def test_dashboard_and_metrics_tell_the_front_doors_apart(proxy: Proxy,
                                                                fake: FakeZai) -> None:
    fake.push(Script(text="hello"))
    client = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="k", max_retries=0,
                                      default_headers=claude_code.HEADERS)
    await client.messages.create(model="claude-haiku-4-5", max_tokens=10,
                                 messages=[{"role": "user", "content": "hi"}])
    fake.push(Script(text="hello"))
    await openai_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=[{"role": "user", "content": "hi"}])
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/dashboard/requests") as response:
            recent = await response.json()
        async with session.get(f"{proxy.url}/dashboard/stats") as response:
            stats = await response.json()
        async with session.get(f"{proxy.url}/metrics") as response:
            metrics = await response.text()
        async with session.get(f"{proxy.url}/dashboard") as response:
            page = await response.text()
    rows = recent["data"]
    by_path = {r["path"]: r for r in rows}
    assert by_path["/v1/messages"]["api"] == "anthropic_messages"
    assert by_path["/v1/messages"]["client"] == "Claude Code"
    assert by_path["/v1/messages"]["model"] == "GLM-4.5-Air"
    assert by_path["/v1/chat/completions"]["api"] == "chat_completions"
    assert {a["name"]: a["requests"] for a in stats["apis"]} == {
        "anthropic_messages": 1, "chat_completions": 1}
    assert 'zproxy_api_requests_total{api="anthropic_messages",status="200"} 1.0' in metrics
    assert 'zproxy_api_requests_total{api="chat_completions",status="200"} 1.0' in metrics
    assert "anthropic_messages" in page
