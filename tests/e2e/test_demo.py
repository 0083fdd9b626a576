"""The offline demo as a user runs it: one command, the real proxy, the fake upstream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.helpers import sync_client
from tests.e2e.processes import ROOT, child_env, error_line, run, running

WEATHER: Any = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]


def test_demo_command_serves_meaningful_answers_and_stops_cleanly() -> None:
    with running(["-m", "tests.fakes.demo", "--fake-port", "0"], child_env(PORT="0")) as child:
        base = child.wait_for(r"zproxy demo: (http://\S+/v1)").group(1)
        client = sync_client(base)

        reply = client.chat.completions.create(
            model="GLM-4.6", messages=[{"role": "user", "content": "Hello from the demo"}])
        assert "Hello from the demo" in (reply.choices[0].message.content or "")
        assert reply.choices[0].finish_reason == "stop"
        child.wait_for(r'fake z\.ai: model=\S+ "Hello from the demo" -> echo')

        reasoning, content = "", ""
        for chunk in client.chat.completions.create(
                model="GLM-4.6-thinking", stream=True,
                messages=[{"role": "user", "content": "Think about this"}]):
            if chunk.choices:
                delta = chunk.choices[0].delta
                reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
                content += delta.content or ""
        assert "3 words" in reasoning and "Think about this" in content

        question: dict[str, Any] = {"role": "user", "content": "What is the weather in Paris?"}
        reply = client.chat.completions.create(model="GLM-4.6", messages=[question],
                                               tools=WEATHER)
        (call,) = reply.choices[0].message.tool_calls or []
        assert reply.choices[0].finish_reason == "tool_calls"
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Paris"}
        child.wait_for(r"fake z\.ai: .*tools=1 .* -> tool call get_weather")

        history = [question, reply.choices[0].message.model_dump(exclude_none=True),
                   {"role": "tool", "tool_call_id": call.id, "content": "18 °C and sunny"}]
        answer = client.chat.completions.create(model="GLM-4.6", tools=WEATHER,
                                                messages=history)
        assert "18 °C and sunny" in (answer.choices[0].message.content or "")

        assert child.interrupt() == 0


def test_demo_busy_port_is_one_line_exit_2() -> None:
    with running(["-m", "tests.fakes.demo", "--fake-port", "0"], child_env(PORT="0")) as first:
        port = first.wait_for(r"zproxy demo: http://127\.0\.0\.1:(\d+)/v1").group(1)
        second = run(["-m", "tests.fakes.demo", "--fake-port", "0"], child_env(PORT=port))
        assert second.returncode == 2
        line = error_line(second.stderr)
        assert "PORT" in line and port in line, second.stderr
        assert first.interrupt() == 0


def test_fake_without_fixtures_fails_clearly(tmp_path: Path) -> None:
    result = run(["-m", "tests.fakes", "--port", "0"],
                 child_env(ZPROXY_FIXTURES_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert "fixtures not found" in result.stderr and str(tmp_path) in result.stderr
    assert "Traceback" not in result.stderr


def test_start_scripts_offer_the_demo() -> None:
    assert "tests.fakes.demo" in (ROOT / "start.sh").read_text("utf-8")
    assert "tests.fakes.demo" in (ROOT / "start.bat").read_text("utf-8")
