"""Versioned schema, migrated forward on start.

Each entry of `MIGRATIONS` turns version N-1 into N and runs inside one transaction with its
version row, so a crash never leaves a half-applied step. New steps are appended, never
edited; they use SQLAlchemy DDL constructs (no dialect-specific SQL) so PostgreSQL takes them
as SQLite does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from sqlalchemy import (
    Column,
    Connection,
    Index,
    MetaData,
    String,
    Table,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from zproxy.store import schema

Migration = Callable[[Connection], None]


def _v1(conn: Connection) -> None:
    tables = [schema.upstream_tokens, schema.client_keys, schema.pool_events]
    schema.metadata.create_all(conn, tables=tables)


def _v2(conn: Connection) -> None:
    """Per-provider token pools: the `provider` column (present since v1, always "zai")
    becomes meaningful. Blank or differently spelled values are normalised and the column is
    indexed, since every provider loads and lists its own rows."""
    table = schema.upstream_tokens
    column = table.c.provider
    conn.execute(update(table).where(or_(column.is_(None), column == ""))
                 .values(provider="zai"))
    conn.execute(update(table).values(provider=func.lower(func.trim(column))))
    # a detached copy of the table, so the index does not join the shared metadata (which
    # v1 replays with create_all on a fresh database)
    detached = Table(table.name, MetaData(), Column("provider", String(32)))
    Index("ix_upstream_tokens_provider", detached.c.provider).create(conn)


MIGRATIONS: Final[tuple[Migration, ...]] = (_v1, _v2)
LATEST: Final = len(MIGRATIONS)


def _current(conn: Connection) -> int:
    if not inspect(conn).has_table(schema.schema_version.name):
        schema.schema_version.create(conn)
        return 0
    found = conn.execute(select(schema.schema_version.c.version)
                         .order_by(schema.schema_version.c.version.desc()).limit(1)).scalar()
    return int(found or 0)


async def migrate(engine: AsyncEngine) -> tuple[int, int]:
    """Bring the database to `LATEST`; returns (version before, version after)."""
    async with engine.begin() as conn:
        before = await conn.run_sync(_current)
    if before > LATEST:
        raise RuntimeError(f"database schema v{before} is newer than this zproxy (v{LATEST})")
    for version in range(before + 1, LATEST + 1):
        async with engine.begin() as conn:
            await conn.run_sync(MIGRATIONS[version - 1])
            await conn.execute(schema.schema_version.insert().values(
                version=version, applied_at=time.time()))
    return before, LATEST
