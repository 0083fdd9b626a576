"""The store on a real SQLite file: created on first start, migrated forward, batched writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from zproxy.errors import UpstreamRateLimitError
from zproxy.pool.health import Policy
from zproxy.pool.pool import UserPool
from zproxy.pool.service import TokenInputError, TokenService, parse_import
from zproxy.providers.zai.tokens import Credential
from zproxy.store import Store, database_url
from zproxy.store.migrate import LATEST

TOKENS = ["tok-alpha-0123456789", "tok-beta-0123456789", "tok-gamma-0123456789"]


def test_database_url_forms(tmp_path: Path) -> None:
    assert database_url(str(tmp_path / "z.db"), None) == f"sqlite+aiosqlite:///{tmp_path}/z.db"
    assert database_url(":memory:", None) == "sqlite+aiosqlite://"
    assert database_url("x", "sqlite:///y.db") == "sqlite+aiosqlite:///y.db"
    assert database_url("x", "postgres://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"


async def test_first_start_creates_the_file_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "zproxy.db"
    store = await Store.open(database_url(str(path), None))
    await store.close()
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        versions = [r[0] for r in conn.execute("select version from schema_version")]
    assert {"upstream_tokens", "client_keys", "pool_events", "schema_version"} <= tables
    assert versions == list(range(1, LATEST + 1))
    again = await Store.open(database_url(str(path), None))  # a second start migrates nothing
    await again.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("select count(*) from schema_version").fetchone()[0] == LATEST


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "z.db"
    await (await Store.open(database_url(str(path), None))).close()
    with sqlite3.connect(path) as conn:
        conn.execute("insert into schema_version values (?, 0)", (LATEST + 1,))
    with pytest.raises(RuntimeError, match="newer"):
        await Store.open(database_url(str(path), None))


async def service(path: Path) -> TokenService:
    store = await Store.open(database_url(str(path), None))
    svc = TokenService(store, UserPool(policy=Policy(2, 60)))
    await svc.load()
    return svc


async def test_tokens_counters_and_health_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "z.db"
    svc = await service(path)
    await svc.import_configured(TOKENS[:2], None)
    file = tmp_path / "tokens.txt"
    file.write_text(f"# fleet\n{TOKENS[1]}, {TOKENS[2]}\n")
    await svc.import_configured(TOKENS[:2], str(file))  # a second start: nothing doubles
    rows = svc.listing()
    assert [r["source"] for r in rows] == ["env", "env", "file"]
    first = svc.pool.pick()
    assert isinstance(first, Credential)
    for _ in range(2):
        svc.pool.failure(first, UpstreamRateLimitError("busy", upstream_status=429))
    await svc.update(rows[2]["id"], {"label": "spare", "weight": 4})
    await svc.flush()
    before = {r["id"]: r for r in svc.listing()}
    await svc.store.close()

    again = await service(path)
    after = {r["id"]: r for r in again.listing()}
    assert after == before
    cooled = next(r for r in after.values() if r["state"] == "cooling")
    assert cooled["requests"] == 1 and cooled["failures"] == 2
    assert cooled["cooldown_until"] is not None
    assert after[rows[2]["id"]]["label"] == "spare" and after[rows[2]["id"]]["weight"] == 4
    assert [e["event"] for e in again.events()][:2] == ["edited", "cooled"]
    await again.store.close()


async def test_the_request_path_runs_no_query(tmp_path: Path) -> None:
    svc = await service(tmp_path / "z.db")
    await svc.add(TOKENS)
    queries = svc.store.queries
    for _ in range(100):
        credential = svc.pool.pick()
        assert credential is not None
        svc.pool.success(credential)
    assert svc.store.queries == queries
    await svc.flush()
    assert svc.store.queries > queries  # the flusher writes them, in a batch
    await svc.store.close()


async def test_bad_admin_input_is_refused(tmp_path: Path) -> None:
    svc = await service(tmp_path / "z.db")
    with pytest.raises(TokenInputError, match="weight"):
        await svc.add(["tok-x"], weight=0)
    with pytest.raises(TokenInputError, match="single word"):
        await svc.add(["two words"])
    with pytest.raises(TokenInputError, match="masked"):
        parse_import('[{"token": null, "masked": "tok-…6789"}]')
    assert parse_import('{"tokens": [{"token": "a"}, "b"]}')[0] == ["a", "b"]
    assert parse_import("a\nb, c")[0] == ["a", "b", "c"]
    await svc.store.close()


async def test_disabling_keeps_an_invalid_mark_and_an_edit_clears_it(tmp_path: Path) -> None:
    svc = await service(tmp_path / "z.db")
    entry = (await svc.add(TOKENS[:1])).added[0]
    svc.pool.mark_invalid(entry, "test")
    await svc.flush()
    await svc.set_enabled([entry.id], False)
    await svc.set_enabled([entry.id], True)
    assert svc.listing()[0]["state"] == "invalid"
    await svc.update(entry.id, {"label": "looked at"})
    assert svc.listing()[0]["state"] == "healthy"
    await svc.store.close()
    again = await service(tmp_path / "z.db")
    assert again.listing()[0]["state"] == "healthy"
    await again.store.close()
