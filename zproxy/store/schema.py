"""The store's tables, in SQLAlchemy Core: portable types only (SQLite now, PostgreSQL later).

Times are epoch seconds as floats so both databases store them the same way and the pool
compares them with its clock without conversion.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", Float, nullable=False),
)

upstream_tokens = Table(
    "upstream_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(32), nullable=False, default="zai"),
    Column("token", Text, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # dedup without the secret
    Column("label", String(200), nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("priority", Integer, nullable=False, default=0),
    Column("weight", Integer, nullable=False, default=1),
    Column("max_concurrent", Integer, nullable=True),
    Column("source", String(16), nullable=False),
    Column("state", String(16), nullable=False, default="healthy"),
    Column("user_id", String(200), nullable=True),
    Column("email", String(320), nullable=True),
    Column("name", String(200), nullable=True),
    Column("role", String(32), nullable=True),
    Column("validation", String(16), nullable=True),
    Column("validated_at", Float, nullable=True),
    Column("requests", Integer, nullable=False, default=0),
    Column("successes", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("last_error_at", Float, nullable=True),
    Column("last_used_at", Float, nullable=True),
    Column("cooldown_until", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

client_keys = Table(
    "client_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),  # shown to tell keys apart, never the key
    Column("enabled", Boolean, nullable=False, default=True),
    Column("rpm_limit", Integer, nullable=True),
    Column("tpd_limit", Integer, nullable=True),
    Column("requests", Integer, nullable=False, default=0),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("last_used_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
)

pool_events = Table(
    "pool_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("token_id", Integer, ForeignKey("upstream_tokens.id", ondelete="SET NULL"),
           nullable=True),
    Column("token", String(64), nullable=False),  # label or fingerprint, never the token
    Column("event", String(32), nullable=False),
    Column("detail", Text, nullable=True),
)
Index("ix_pool_events_at", pool_events.c.at)
