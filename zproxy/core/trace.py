"""What happened upstream for one client request: stats, metrics and persisted chats read it.

Filled by a provider call, read by the engine; provider-neutral."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """The persisted upstream chat a request went to, so a follow-up can continue it."""

    chat_id: str
    message_id: str  # the assistant message id: the next turn's parent
    credential: str  # Credential.key of the token that owns the chat
    continued: bool


@dataclass(slots=True)
class Trace:
    attempts: int = 0
    retries: list[str] = field(default_factory=list)  # the cause of every failed attempt
    recovered: list[str] = field(default_factory=list)  # causes retried after a 200 answer
    credential_kind: str | None = None
    chat: ChatTurn | None = None
    stale_chat: bool = False  # a remembered chat was refused: forget it
    usage: dict[str, Any] | None = None  # the usage reported to the client, once finished
