"""Persisted-chat bookkeeping: digests, the LRU/TTL store and the send plan."""

from __future__ import annotations

from typing import Any

import pytest

from zproxy.providers.zai.conversations import (
    ChatBinding,
    ConversationStore,
    conversation_key,
    fold_messages,
    plan_persisted,
)

M = "glm-4.7"


def msg(role: str, content: Any = "", **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **extra}


def binding(chat: str = "chat-1", parent: str = "asst-1") -> ChatBinding:
    return ChatBinding(chat_id=chat, parent_id=parent, credential="cred", model=M)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


TURN1 = [msg("system", "be brief"), msg("user", "hi"), msg("assistant", "hello!")]


# --- conversation_key -----------------------------------------------------------------------


def test_key_is_stable_and_ignores_extra_fields() -> None:
    a = [msg("user", "hi", name="bob"), msg("assistant", "yo", refusal=None)]
    b = [msg("user", "hi"), msg("assistant", "yo")]
    assert conversation_key(M, a) == conversation_key(M, b)
    assert len(conversation_key(M, a)) == 64


def test_key_depends_on_model_role_content_and_order() -> None:
    base = conversation_key(M, [msg("user", "hi")])
    assert conversation_key("glm-4.6v", [msg("user", "hi")]) != base
    assert conversation_key(M, [msg("system", "hi")]) != base
    assert conversation_key(M, [msg("user", "hi!")]) != base
    assert conversation_key(M, [msg("user", "a"), msg("user", "b")]) != conversation_key(
        M, [msg("user", "b"), msg("user", "a")])


def test_key_treats_string_and_text_parts_alike_and_uses_image_urls() -> None:
    parts = [{"type": "text", "text": "hi"}]
    assert conversation_key(M, [msg("user", parts)]) == conversation_key(M, [msg("user", "hi")])
    img = {"type": "image_url", "image_url": {"url": "https://x/a.png"}}
    other = {"type": "image_url", "image_url": {"url": "https://x/b.png"}}
    assert (conversation_key(M, [msg("user", [*parts, img])])
            != conversation_key(M, [msg("user", [*parts, other])]))


def test_key_includes_canonical_tool_calls() -> None:
    def call(args: str) -> dict[str, Any]:
        return msg("assistant", None, tool_calls=[
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}])

    assert conversation_key(M, [call('{"a":1,"b":2}')]) == conversation_key(
        M, [call('{"b": 2, "a": 1}')])
    assert conversation_key(M, [call('{"a":1}')]) != conversation_key(M, [call('{"a":2}')])
    assert conversation_key(M, [call('{"a":1}')]) != conversation_key(M, [msg("assistant")])


# --- ConversationStore ----------------------------------------------------------------------


def test_lookup_finds_stored_prefix_and_where_new_messages_start() -> None:
    store = ConversationStore()
    store.remember(M, TURN1, binding())
    found = store.lookup(M, [*TURN1, msg("user", "again")])
    assert found == (binding(), 3)
    assert store.lookup("glm-4.6v", [*TURN1, msg("user", "again")]) is None
    assert store.lookup(M, TURN1) is None  # k must be shorter than the request


def test_lookup_prefers_longest_prefix() -> None:
    store = ConversationStore()
    turn2 = [*TURN1, msg("user", "more"), msg("assistant", "sure")]
    store.remember(M, TURN1, binding("chat-a", "a1"))
    store.remember(M, turn2, binding("chat-b", "b1"))
    assert store.lookup(M, [*turn2, msg("user", "x")]) == (binding("chat-b", "b1"), 5)


def test_continuing_a_chat_moves_its_entry() -> None:
    store = ConversationStore()
    store.remember(M, TURN1, binding("chat-1", "a1"))
    turn2 = [*TURN1, msg("user", "more"), msg("assistant", "sure")]
    store.remember(M, turn2, binding("chat-1", "a2"))
    assert len(store) == 1
    assert store.lookup(M, [*TURN1, msg("user", "branch")]) is None
    assert store.lookup(M, [*turn2, msg("user", "x")]) == (binding("chat-1", "a2"), 5)


def test_forget_drops_the_chat() -> None:
    store = ConversationStore()
    store.remember(M, TURN1, binding())
    store.forget(binding())
    store.forget(binding("unknown"))
    assert store.lookup(M, [*TURN1, msg("user", "x")]) is None
    assert len(store) == 0


def test_entries_expire() -> None:
    clock = Clock()
    store = ConversationStore(ttl_s=60, clock=clock)
    store.remember(M, TURN1, binding())
    clock.now += 59
    assert store.lookup(M, [*TURN1, msg("user", "x")]) is not None
    clock.now += 2
    assert store.lookup(M, [*TURN1, msg("user", "x")]) is None
    assert len(store) == 0


def test_store_is_lru_bounded() -> None:
    store = ConversationStore(max_entries=2)
    histories = [[msg("user", f"q{i}"), msg("assistant", f"a{i}")] for i in range(3)]
    store.remember(M, histories[0], binding("c0"))
    store.remember(M, histories[1], binding("c1"))
    assert store.lookup(M, [*histories[0], msg("user", "x")]) is not None  # c0 now recent
    store.remember(M, histories[2], binding("c2"))
    assert len(store) == 2
    assert store.lookup(M, [*histories[1], msg("user", "x")]) is None
    assert store.lookup(M, [*histories[0], msg("user", "x")]) is not None


def test_lookup_hashes_each_message_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import zproxy.providers.zai.conversations as conv

    calls = []
    real = conv.canonical_message

    def counting(message: Any) -> bytes:
        calls.append(message)
        return real(message)

    monkeypatch.setattr(conv, "canonical_message", counting)
    history = [msg("user" if i % 2 == 0 else "assistant", str(i)) for i in range(41)]
    ConversationStore().lookup(M, history)
    assert len(calls) == 40


# --- plan_persisted -------------------------------------------------------------------------


def test_fresh_plan_sends_history_and_last_user_message() -> None:
    messages = [*TURN1, msg("user", "next")]
    plan = plan_persisted(messages, None)
    assert plan.binding is None and plan.parent_id is None
    assert plan.history == TURN1
    assert plan.current == msg("user", "next")


def test_fresh_plan_for_first_turn() -> None:
    plan = plan_persisted([msg("system", "s"), msg("user", "hi")], None)
    assert plan.history == [msg("system", "s")]
    assert plan.current == msg("user", "hi")


def test_continuation_sends_only_new_message() -> None:
    b = binding()
    plan = plan_persisted([*TURN1, msg("user", "next")], (b, 3))
    assert (plan.binding, plan.parent_id, plan.history) == (b, "asst-1", [])
    assert plan.current == msg("user", "next")


def test_continuation_folds_several_new_messages() -> None:
    b = binding()
    new = [msg("tool", "42", tool_call_id="c1"), msg("user", [
        {"type": "text", "text": "and?"},
        {"type": "image_url", "image_url": {"url": "https://x/a.png"}}])]
    plan = plan_persisted([*TURN1, *new], (b, 3))
    assert plan.current == {"role": "user", "content": [
        {"type": "text", "text": "42\n\nand?"},
        {"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}
    assert plan.parent_id == "asst-1"


def test_unknown_assistant_turn_in_new_messages_starts_fresh() -> None:
    messages = [*TURN1, msg("user", "u2"), msg("assistant", "spliced"), msg("user", "u3")]
    plan = plan_persisted(messages, (binding(), 3))
    assert plan.binding is None and plan.parent_id is None
    assert plan.history == messages[:-1]
    assert plan.current == msg("user", "u3")


def test_fold_joins_texts_with_blank_lines() -> None:
    assert fold_messages([msg("user", "a"), msg("system", "b")]) == msg("user", "a\n\nb")


def test_empty_messages_rejected() -> None:
    with pytest.raises(ValueError):
        plan_persisted([], None)


def test_round_trip_store_then_plan() -> None:
    store = ConversationStore()
    first = [msg("user", "hi")]
    plan = plan_persisted(first, store.lookup(M, first))
    assert plan.binding is None
    store.remember(M, [*first, msg("assistant", "hello")], binding("c", "a1"))
    second = [*first, msg("assistant", "hello"), msg("user", "again")]
    plan = plan_persisted(second, store.lookup(M, second))
    assert plan.binding == binding("c", "a1") and plan.current == msg("user", "again")
