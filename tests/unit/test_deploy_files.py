"""The container, deploy and launcher files keep the properties operators rely on.

No Docker engine runs in the test environment, so these read the files as Docker, Render,
git and cmd.exe would and check what matters: a numeric non-root user, exec-form health
check and command, a stop grace that fits `docker stop`, a complete `.dockerignore`, a
generated client key on Render, CRLF for batch files.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from zproxy.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER_STOP_TIMEOUT_S = 10  # docker stop's default before SIGKILL


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile's final stage, continuations joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text("utf-8"))
    rows = [line.strip().split(None, 1) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    parsed = [(row[0].upper(), row[1] if len(row) > 1 else "") for row in rows]
    last_from = max(i for i, (op, _) in enumerate(parsed) if op == "FROM")
    return parsed[last_from:]


def _one(op: str) -> str:
    found = [args for name, args in _instructions() if name == op]
    assert len(found) == 1, f"expected one {op} in the final stage, found {found}"
    return found[0]


def _env() -> dict[str, str]:
    pairs: dict[str, str] = {}
    for name, args in _instructions():
        if name == "ENV":
            pairs.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return pairs


def test_container_runs_as_a_numeric_non_root_user() -> None:
    user = _one("USER")
    assert re.fullmatch(r"\d+(:\d+)?", user), user
    assert all(int(part) > 0 for part in user.split(":"))


def test_healthcheck_and_command_are_exec_form() -> None:
    check = _one("HEALTHCHECK")
    command = check.split(" CMD ", 1)[1]
    argv = json.loads(command)
    assert argv[0] == "python" and "/health" in argv[-1]
    assert json.loads(_one("CMD")) == ["python", "run.py"]


def test_container_listens_everywhere_and_stops_within_docker_stop() -> None:
    env = _env()
    assert env["HOST"] == "0.0.0.0"
    settings = load_settings(environ=env, env_files=[])
    assert settings.host == "0.0.0.0"
    assert settings.shutdown_grace_s < DOCKER_STOP_TIMEOUT_S
    assert Settings().shutdown_grace_s < DOCKER_STOP_TIMEOUT_S  # ./start.sh too
    assert _one("STOPSIGNAL") == "SIGTERM"  # the signal zproxy drains on


def test_dockerignore_keeps_caches_and_secrets_out_but_not_the_sources() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        verdict = False
        for pattern in patterns:
            negate, pattern = pattern.startswith("!"), pattern.lstrip("!")
            if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.replace("**/", "")):
                verdict = not negate
        return verdict

    for path in (".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "tests",
                 "test-output", "data", ".env", ".env.local", "zproxy.egg-info"):
        assert ignored(path), f"{path} would be sent to the Docker build"
    copied = [args.split()[-2] for name, args in _instructions() if name == "COPY"
              and "--from" not in args]
    copied += ["pyproject.toml", "README.md", "zproxy"]  # the build stage's COPY
    for path in copied:
        assert (ROOT / path).exists() and not ignored(path.rstrip("/")), path


def test_render_blueprint_generates_the_client_key() -> None:
    blueprint = yaml.safe_load((ROOT / "render.yaml").read_text("utf-8"))
    service = next(s for s in blueprint["services"] if s["type"] == "web")
    env = {var["key"]: var for var in service["envVars"]}
    assert env["AUTH_TOKEN"].get("generateValue") is True
    assert "sync" not in env["AUTH_TOKEN"]
    assert service["healthCheckPath"] == "/health"


def test_render_blueprint_wires_its_private_key_value_through_redis_url() -> None:
    blueprint = yaml.safe_load((ROOT / "render.yaml").read_text("utf-8"))
    by_type = {s["type"]: s for s in blueprint["services"]}
    web, store = by_type["web"], by_type["keyvalue"]
    env = {var["key"]: var for var in web["envVars"]}
    assert env["REDIS_URL"]["fromService"] == {"type": "keyvalue", "name": store["name"],
                                               "property": "connectionString"}
    assert store["ipAllowList"] == []  # required by Render; empty: private network only
    assert store["maxmemoryPolicy"] == "noeviction"
    values = {k: v["value"] for k, v in env.items() if "value" in v}
    settings = load_settings(environ=values | {"REDIS_URL": "redis://red-x:6379"},
                             env_files=[])
    assert settings.redis_url == "redis://red-x:6379" and settings.workers >= 1


def test_batch_files_are_checked_out_with_crlf() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "check-attr", "eol", "--", "start.bat", "start.sh"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "start.bat: eol: crlf" in out and "start.sh: eol: lf" in out


def test_start_bat_checks_python_and_installs_only_when_needed() -> None:
    text = (ROOT / "start.bat").read_text("utf-8")
    assert "sys.version_info < (3, 11)" in text
    assert ".zproxy-installed" in text and "getmtime('pyproject.toml')" in text
    assert '-m "%MARKS%"' in text and 'MARKS=not browser' in text  # documented skip
    start_sh = (ROOT / "start.sh").read_text("utf-8")
    assert ".zproxy-installed" in start_sh  # the same stamp on both
