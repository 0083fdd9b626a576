"""The test servers themselves: a real Redis and a real PostgreSQL answer on loopback."""

from __future__ import annotations

import socket

import pytest
import redis
import redis.asyncio as aioredis

from tests.servers import PostgresServer, RedisServer, unavailable


async def test_redis_answers_and_restarts_on_its_port(redis_url: str,
                                                      redis_session: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_url)
    assert await client.incr("n") == 1
    redis_session.stop()
    with pytest.raises(redis.exceptions.ConnectionError):
        await client.incr("n")
    redis_session.start()
    assert await client.incr("n") == 1  # no persistence: a fresh server
    await client.aclose()


def test_postgres_listens_on_loopback(postgres_session: PostgresServer) -> None:
    with socket.create_connection(("127.0.0.1", postgres_session.port), timeout=5):
        pass


def test_a_missing_server_skips_locally_and_fails_under_ci(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        unavailable("redis-server is not installed")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        unavailable("redis-server is not installed")
