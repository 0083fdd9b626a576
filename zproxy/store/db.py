"""The store: one async SQLAlchemy engine and the few statements zproxy runs.

Why SQLAlchemy Core + aiosqlite: the driver runs sqlite3 in its own thread, so no query ever
blocks the event loop; Core builds the same statements for SQLite and PostgreSQL (asyncpg), so
`DATABASE_URL` can point at a server later without touching the callers; and there is no ORM
session state to keep in step with the in-memory pool.

Nothing here runs on a client request: the pool and the key ring work from memory and hand
their counters over in batches (`save_*`). `queries` counts statements, so a benchmark can
prove that.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from zproxy.store import schema
from zproxy.store.migrate import migrate

Row = dict[str, Any]
MEMORY = ":memory:"
EVENTS_KEPT = 2000


def database_url(db_path: str, url: str | None) -> str:
    """`DATABASE_URL` when set (plain driver names get their async driver), else SQLite at
    `DB_PATH` (`:memory:` for a throw-away database)."""
    if url:
        for plain, driver in (("sqlite://", "sqlite+aiosqlite://"),
                              ("postgres://", "postgresql+asyncpg://"),
                              ("postgresql://", "postgresql+asyncpg://")):
            if url.startswith(plain):
                return driver + url[len(plain):]
        return url
    if db_path == MEMORY:
        return "sqlite+aiosqlite://"
    return f"sqlite+aiosqlite:///{Path(db_path).expanduser()}"


def describe(url: str) -> str:
    """The URL without its password, for logs."""
    return make_url(url).render_as_string(hide_password=True)


def _engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if not parsed.database or parsed.database == MEMORY:
        # one shared connection, or every checkout would see a new empty database
        return create_async_engine(url, poolclass=StaticPool,
                                   connect_args={"check_same_thread": False})
    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the flusher
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.queries = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        self.queries += 1

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect, create the database on first start and migrate it forward."""
        store = cls(_engine(url))
        await migrate(store.engine)
        return store

    async def close(self) -> None:
        await self.engine.dispose()

    # --- upstream tokens ---------------------------------------------------------------

    async def load_tokens(self) -> list[Row]:
        return await self._all(select(schema.upstream_tokens)
                               .order_by(schema.upstream_tokens.c.id))

    async def insert_tokens(self, rows: Sequence[Mapping[str, Any]]) -> list[Row]:
        """Insert the rows whose `token_hash` is new; returns the inserted rows with ids."""
        table = schema.upstream_tokens
        now = time.time()
        inserted: list[Row] = []
        async with self.engine.begin() as conn:
            hashes = [r["token_hash"] for r in rows]
            known = set((await conn.execute(select(table.c.token_hash)
                                            .where(table.c.token_hash.in_(hashes)))).scalars())
            for row in rows:
                if row["token_hash"] in known:
                    continue
                known.add(row["token_hash"])
                values = {"created_at": now, "updated_at": now, **row}
                result = await conn.execute(table.insert().values(**values))
                key = result.inserted_primary_key
                assert key is not None
                found = (await conn.execute(select(table).where(table.c.id == key[0]))).one()
                inserted.append(dict(found._mapping))
        return inserted

    async def update_token(self, token_id: int, values: Mapping[str, Any]) -> None:
        table = schema.upstream_tokens
        async with self.engine.begin() as conn:
            await conn.execute(update(table).where(table.c.id == token_id)
                               .values(**values, updated_at=time.time()))

    async def delete_tokens(self, ids: Iterable[int]) -> None:
        table = schema.upstream_tokens
        async with self.engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.id.in_(list(ids))))

    async def save_token_runtime(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """One batched UPDATE of health (or any absolute values), keyed by `id`."""
        await self._save(schema.upstream_tokens, rows)

    # --- pool events -------------------------------------------------------------------

    async def add_events(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        table = schema.pool_events
        async with self.engine.begin() as conn:
            await conn.execute(table.insert(), [dict(r) for r in rows])
            newest = (await conn.execute(select(table.c.id).order_by(table.c.id.desc())
                                         .offset(EVENTS_KEPT).limit(1))).scalar()
            if newest is not None:
                await conn.execute(delete(table).where(table.c.id <= newest))

    async def recent_events(self, limit: int) -> list[Row]:
        table = schema.pool_events
        rows = await self._all(select(table).order_by(table.c.id.desc()).limit(limit))
        return rows[::-1]

    # --- client keys -------------------------------------------------------------------

    async def load_keys(self) -> list[Row]:
        return await self._all(select(schema.client_keys).order_by(schema.client_keys.c.id))

    async def insert_key(self, row: Mapping[str, Any]) -> Row:
        table = schema.client_keys
        async with self.engine.begin() as conn:
            result = await conn.execute(table.insert().values(created_at=time.time(), **row))
            key = result.inserted_primary_key
            assert key is not None
            found = (await conn.execute(select(table).where(table.c.id == key[0]))).one()
        return dict(found._mapping)

    async def update_key(self, key_id: int, values: Mapping[str, Any]) -> None:
        table = schema.client_keys
        async with self.engine.begin() as conn:
            await conn.execute(update(table).where(table.c.id == key_id).values(**values))

    async def delete_key(self, key_id: int) -> None:
        table = schema.client_keys
        async with self.engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.id == key_id))

    async def add_counts(self, table_name: str, rows: Sequence[Mapping[str, Any]],
                         counted: Iterable[str]) -> None:
        """One batched UPDATE keyed by `id` that adds the `counted` columns (deltas) and sets
        the rest: instances sharing the store each add what they counted, none overwrites."""
        if not rows:
            return
        table = schema.metadata.tables[table_name]
        added = set(counted)
        columns = [c for c in rows[0] if c != "id"]
        values = {c: table.c[c] + bindparam(f"v_{c}") if c in added else bindparam(f"v_{c}")
                  for c in columns}
        statement = update(table).where(table.c.id == bindparam("_id")).values(values)
        params = [{"_id": r["id"], **{f"v_{c}": r[c] for c in columns}} for r in rows]
        async with self.engine.begin() as conn:
            await conn.execute(statement, params)

    # --- helpers -----------------------------------------------------------------------

    async def _all(self, statement: Any) -> list[Row]:
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(statement))]

    async def _save(self, table: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns = [c for c in rows[0] if c != "id"]
        # without .values(), the executemany parameters name the SET columns
        statement = update(table).where(table.c.id == bindparam("_id"))
        params = [{"_id": r["id"], **{c: r[c] for c in columns}} for r in rows]
        async with self.engine.begin() as conn:
            await conn.execute(statement, params)
