"""compose.yaml: two zproxy instances that really share Redis and PostgreSQL.

No Docker engine runs here, so the file is read as Compose reads it (YAML merge keys
resolved) and checked for what makes the two instances one service: the same REDIS_URL and
DATABASE_URL naming services defined beside them, distinct names and ports, and only
variables zproxy knows.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from zproxy.config import VARIABLES, load_settings

ROOT = Path(__file__).resolve().parents[2]
KNOWN = {name for var in VARIABLES for name in var.names}


def _services() -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = yaml.safe_load(
        (ROOT / "compose.yaml").read_text("utf-8"))["services"]
    return found


def test_two_instances_share_redis_and_postgres() -> None:
    services = _services()
    instances = {name: s for name, s in services.items() if name.startswith("zproxy")}
    assert len(instances) == 2
    envs = [dict(s["environment"]) for s in instances.values()]  # type: ignore[call-overload]
    for key in ("REDIS_URL", "DATABASE_URL"):
        assert len({env[key] for env in envs}) == 1, key
        assert urlsplit(envs[0][key]).hostname in services  # a service of this file
    assert len({env["INSTANCE_NAME"] for env in envs}) == 2
    ports = [p for s in instances.values() for p in s["ports"]]  # type: ignore[attr-defined]
    assert len(set(ports)) == 2
    for env in envs:
        assert set(env) <= KNOWN, set(env) - KNOWN
        concrete = {k: v for k, v in env.items() if "${" not in str(v)}
        settings = load_settings(concrete, env_files=())
        assert settings.redis_url and settings.instance_name
