"""Persistent state: upstream tokens, client API keys and pool events (`Store`)."""

from zproxy.store.db import Store, database_url, describe

__all__ = ["Store", "database_url", "describe"]
