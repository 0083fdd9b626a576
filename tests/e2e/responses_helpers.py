"""Strict checks for the Responses API tests: every event and object through pydantic.

The SDK itself builds its models without validation (`construct`), so an event with a missing
field or an unknown `type` would still iterate. These helpers validate each one against the
SDK's own models, so a wrong field name, a missing required field or a code outside the
SDK's closed set fails the test.
"""

from __future__ import annotations

from typing import Any

from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from tests.e2e.helpers import MANIFEST

EVENT = TypeAdapter(ResponseStreamEvent)
PLAIN = MANIFEST["plain_answer.sse"]
THINKING = MANIFEST["thinking_answer.sse"]
SEARCH = MANIFEST["search_citations.sse"]

WEATHER_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "name": "get_weather", "description": "Current weather for a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                    "required": ["city"]}, "strict": False},
    {"type": "function", "name": "get_time", "description": "Local time in a time zone",
     "parameters": {"type": "object", "properties": {"tz": {"type": "string"}},
                    "required": ["tz"]}, "strict": None},
]
TWO_CALLS = ("I'll check both.\n<tool_calls_{nonce}>\n"
             '<call name="get_weather">{"city": "Paris"}</call>\n'
             '<call name="get_time">{"tz": "Europe/Paris"}</call>\n'
             "</tool_calls_{nonce}>")


def strict_event(event: Any) -> Any:
    """The event re-validated by the SDK's discriminated union: same class, same data."""
    data = event.to_dict(warnings=False)  # exactly the fields the server sent
    data.pop("snapshot", None)  # added by the SDK's stream helper to its event subclasses
    checked = EVENT.validate_python(data)
    assert isinstance(event, type(checked)), (type(checked), type(event))
    assert checked.type == data["type"]
    if hasattr(event, "response"):
        strict_response(event.response)
    return checked


def strict_response(response: Any) -> Response:
    checked = Response.model_validate(response.to_dict(warnings=False))
    assert checked.object == "response" and checked.id.startswith("resp_")
    return checked


def check_sequence(events: list[Any]) -> list[str]:
    """Increasing sequence numbers from 0, created first, one terminal event last."""
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events)))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] in {"response.completed", "response.incomplete", "response.failed"}
    assert sum(t.startswith("response.c") and t.endswith("completed") for t in types) <= 1
    for event in events:
        strict_event(event)
    return types


def text_deltas(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")
