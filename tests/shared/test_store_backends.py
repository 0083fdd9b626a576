"""The store on both backends: a real SQLite file and a real PostgreSQL server, same schema,
same migrations, same results."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from zproxy.clientkeys.ring import KeyRing
from zproxy.errors import UpstreamRateLimitError
from zproxy.pool.health import Policy
from zproxy.pool.pool import UserPool
from zproxy.pool.service import TokenService
from zproxy.providers.zai.tokens import Credential
from zproxy.store import Store, database_url
from zproxy.store.migrate import LATEST

TOKENS = ["tok-alpha-0123456789", "tok-beta-0123456789", "tok-gamma-0123456789"]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return database_url(str(tmp_path / "z.db"), None)
    return database_url("unused", request.getfixturevalue("postgres_url"))


async def service(url: str) -> TokenService:
    svc = TokenService(await Store.open(url), UserPool(policy=Policy(2, 60)))
    await svc.load()
    return svc


async def test_schema_is_migrated_once(url: str) -> None:
    store = await Store.open(url)
    await store.close()
    store = await Store.open(url)  # a second start migrates nothing
    async with store.engine.connect() as conn:
        versions = (await conn.execute(text("select version from schema_version"))).scalars()
        assert list(versions) == list(range(1, LATEST + 1))
    await store.close()


async def test_tokens_keys_and_health_survive_a_restart(url: str) -> None:
    svc = await service(url)
    await svc.add(TOKENS)
    first = svc.pool.pick()
    assert isinstance(first, Credential)
    for _ in range(2):
        svc.pool.failure(first, UpstreamRateLimitError("busy", upstream_status=429))
    rows = svc.listing()
    await svc.update(rows[2]["id"], {"label": "spare", "weight": 4})
    key = await svc.store.insert_key({"name": "ci", "key_hash": "h" * 64, "prefix": "sk-z",
                                      "rpm_limit": 10})
    await svc.flush()
    before = {r["id"]: r for r in svc.listing()}
    await svc.store.close()

    again = await service(url)
    after = {r["id"]: r for r in again.listing()}
    assert after == before
    cooled = next(r for r in after.values() if r["state"] == "cooling")
    assert cooled["failures"] == 2 and cooled["cooldown_until"] is not None
    assert after[rows[2]["id"]]["label"] == "spare"
    keys = await again.store.load_keys()
    assert [(k["id"], k["name"], k["rpm_limit"]) for k in keys] == [(key["id"], "ci", 10)]
    assert [e["event"] for e in again.events()][:2] == ["edited", "cooled"]
    await again.store.close()


async def test_two_instances_counters_add_up_in_one_store(url: str) -> None:
    """Each instance flushes what it counted since its last flush, so none overwrites."""
    first = await service(url)
    (entry,) = (await first.add(TOKENS[:1])).added
    second = await service(url)  # a second instance on the same store
    keys_a, keys_b = KeyRing(), KeyRing()
    await keys_a.load(first.store)
    key, _ = await keys_a.create(first.store, {"name": "shared"})
    await keys_b.load(second.store)
    for svc, ring, n in ((first, keys_a, 3), (second, keys_b, 2)):
        for _ in range(n):
            credential = svc.pool.pick()
            assert credential is not None
            svc.pool.success(credential)
            stored = ring.get(key.id)
            assert await ring.admit(stored) is None
            ring.charge(stored, 10, 5)
        await svc.flush()
        await ring.flush(svc.store)
    await first.flush()  # again, with nothing new: adds nothing
    await keys_a.flush(first.store)
    (row,) = await first.store.load_tokens()
    assert (row["requests"], row["successes"]) == (5, 5)
    (key_row,) = await first.store.load_keys()
    assert (key_row["requests"], key_row["prompt_tokens"], key_row["completion_tokens"]) == (
        5, 50, 25)
    assert entry.requests == 3  # this instance's view: what it loaded plus what it counted
    await first.store.close()
    await second.store.close()
