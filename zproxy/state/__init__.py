"""Runtime state: in this process by default, shared through Redis when REDIS_URL is set.

`open_state(settings)` picks the backend; the stores built on it (`conversations`, ...)
answer from a local copy either way, so a request never waits on Redis and an outage only
narrows what is shared.
"""

from __future__ import annotations

import os
import socket

from zproxy.config import Settings
from zproxy.state.bus import LocalState, RedisState


def instance_id(settings: Settings) -> str:
    """Unique per process: the name (INSTANCE_NAME or host name) and the pid."""
    return f"{settings.instance_name or socket.gethostname()}:{os.getpid()}"


def open_state(settings: Settings) -> LocalState:
    if settings.redis_url:
        return RedisState(instance_id(settings), settings.redis_url)
    return LocalState(instance_id(settings))


__all__ = ["LocalState", "RedisState", "instance_id", "open_state"]
