"""Per-provider token pools: one store table and one UserPool, each provider sees its own rows,
and a failure rests the token that met it only (issue 12)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.unit.test_pool import AUTH, make
from zproxy.core.failures import upstream_error
from zproxy.errors import UpstreamTimeout
from zproxy.pool.health import Policy
from zproxy.pool.model import TokenEntry, token_hash
from zproxy.pool.pool import UserPool
from zproxy.pool.service import TokenInputError, TokenService
from zproxy.pool.views import ProviderView, StoredTokenSource
from zproxy.store import Store, database_url


def entry(n: int, provider: str) -> TokenEntry:
    token = f"{provider}-{n}-" + "x" * 20
    return TokenEntry.from_row({"id": n, "token": token, "token_hash": token_hash(token),
                                "source": "admin", "provider": provider})


def test_each_provider_picks_only_its_own_tokens() -> None:
    pool, _ = make(entry(1, "zai"), entry(2, "k2think"), entry(3, "longcat"), entry(4, "zai"))
    zai = ProviderView(pool, "zai", "Z.AI")
    picked = {zai.pick().token.split("-")[0] for _ in range(6)}  # type: ignore[union-attr]
    assert picked == {"zai"}
    assert {c.token.split("-")[0] for c in zai.credentials} == {"zai"}
    assert zai.snapshot()["user_tokens"] == 2
    k2 = StoredTokenSource(pool, "k2think")
    credential = k2.acquire()
    assert credential is not None and credential.secret.startswith("k2think-")
    assert k2.acquire(exclude=(credential.key,)) is None  # its only token is excluded
    k2.report(credential, None)
    assert StoredTokenSource(pool, "nobody").acquire() is None
    assert not StoredTokenSource(pool, "nobody").available()


def test_a_providers_401_rests_that_token_only() -> None:
    pool, _ = make(entry(1, "longcat"), entry(2, "longcat"), entry(3, "zai"), threshold=1)
    longcat = StoredTokenSource(pool, "longcat")
    first = longcat.acquire()
    assert first is not None
    longcat.report(first, upstream_error("auth", "longcat: 请求cookie信息为空", http_status=401))
    states = {e.token.split("-")[1]: pool.state(e) for e in pool.entries()}
    assert states == {"1": "cooling", "2": "healthy", "3": "healthy"}
    again = [longcat.acquire() for _ in range(3)]
    assert {c.secret.split("-")[1] for c in again if c is not None} == {"2"}
    assert longcat.available()  # a resting token still belongs to the provider
    assert ProviderView(pool, "zai", "Z.AI").pick() is not None


def test_failures_that_are_not_the_tokens_fault_do_not_count() -> None:
    pool, _ = make(entry(1, "k2think"), threshold=1)
    source = StoredTokenSource(pool, "k2think")
    credential = source.acquire()
    assert credential is not None
    source.report(credential, UpstreamTimeout("k2think: timed out"))
    assert pool.state(pool.entries()[0]) == "healthy"
    assert pool.entries()[0].credential.active == 0
    credential = source.acquire()
    assert credential is not None
    source.report(credential, AUTH)
    assert pool.state(pool.entries()[0]) == "cooling"


async def test_tokens_keep_their_provider_in_the_store(tmp_path: Path) -> None:
    path = tmp_path / "z.db"
    store = await Store.open(database_url(str(path), None))
    service = TokenService(store, UserPool(policy=Policy(2, 60)),
                           providers=("zai", "k2think", "longcat"))
    await service.add(["lc-token-0123456789"], provider="LongCat")
    await service.add(["zai-token-0123456789"])
    with pytest.raises(TokenInputError, match="provider must be one of"):
        await service.add(["x-token-0123456789"], provider="openai")
    listed = {t["masked"][:3]: t["provider"] for t in service.listing()}
    assert set(listed.values()) == {"longcat", "zai"}
    lc = next(e for e in service.pool.entries() if e.provider == "longcat")
    result = await service.validate(lc.id)
    assert result.status == "unknown" and "longcat" in result.detail
    await store.close()
    reopened = TokenService(await Store.open(database_url(str(path), None)), UserPool())
    await reopened.load()
    assert sorted(e.provider for e in reopened.pool.entries()) == ["longcat", "zai"]
    await reopened.store.close()


async def test_migration_v2_normalises_and_indexes_the_provider(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    await (await Store.open(database_url(str(path), None))).close()
    with sqlite3.connect(path) as conn:  # back to a v1 database with odd provider values
        conn.execute("drop index ix_upstream_tokens_provider")
        conn.execute("delete from schema_version where version >= 2")
        for n, provider in enumerate(["", " K2Think ", "zai"]):
            conn.execute("insert into upstream_tokens (provider, token, token_hash, enabled, "
                         "priority, weight, source, state, requests, successes, failures, "
                         "consecutive_failures, created_at, updated_at) values "
                         "(?, ?, ?, 1, 0, 1, 'admin', 'healthy', 0, 0, 0, 0, 0, 0)",
                         (provider, f"t{n}", f"h{n}"))
    await (await Store.open(database_url(str(path), None))).close()
    with sqlite3.connect(path) as conn:
        providers = sorted(r[0] for r in conn.execute("select provider from upstream_tokens"))
        indexes = {r[0] for r in conn.execute(
            "select name from sqlite_master where type='index'")}
    assert providers == ["k2think", "zai", "zai"]
    assert "ix_upstream_tokens_provider" in indexes
