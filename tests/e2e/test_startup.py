"""Starting zproxy as a user does (`run.py` in a child process): safe defaults, clear errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.processes import child_env, error_line, run, running
from zproxy.config import Settings
from zproxy.server import exposure_warning, is_loopback


@pytest.mark.parametrize(("name", "value"), [("PORT", "eighty"), ("PORT", "70000"),
                                             ("UPSTREAM_READ_TIMEOUT", "-1"),
                                             ("ZAI_BASE_URL", "chat.z.ai")])
def test_bad_setting_is_one_line_naming_the_variable(name: str, value: str) -> None:
    result = run(["run.py"], child_env(**{name: value}))
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert line.startswith("zproxy: configuration error:") and name in line, line
    assert result.stdout == ""


def test_busy_port_is_one_line_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run(["run.py"], child_env(PORT=port))
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert "cannot listen on 127.0.0.1:" + port in line and "PORT" in line, line


def test_a_store_that_cannot_open_is_one_line_naming_db_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run(["run.py"], child_env(PORT="0", DB_PATH=str(blocker / "zproxy.db")))
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert line.startswith("zproxy: configuration error: DB_PATH: cannot open the store"), line


def test_default_host_is_loopback_and_quiet() -> None:
    env = child_env(PORT="0")
    del env["HOST"]
    with running(["run.py"], env) as child:
        child.wait_for(r"server\.started.*url=http://127\.0\.0\.1:\d+")
        assert child.interrupt() == 0
    assert not any("WARNING" in line for line in child.seen)


def test_all_interfaces_without_a_key_warns_loudly() -> None:
    with running(["run.py"], child_env(HOST="0.0.0.0", PORT="0")) as child:
        child.wait_for(r"WARNING: listening on 0\.0\.0\.0:0 with no client key.*AUTH_TOKEN")
        child.wait_for(r"server\.started")
        assert child.interrupt() == 0


def test_exposure_warning_rules() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.8.9.1", "::1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.2", "example.org"]))
    assert exposure_warning(Settings()) is None  # loopback by default
    assert exposure_warning(Settings(host="0.0.0.0", client_keys=("k",))) is None
    warning = exposure_warning(Settings(host="0.0.0.0", client_keys=("k",), skip_auth=True))
    assert warning is not None and "AUTH_TOKEN" in warning
