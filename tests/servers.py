"""Real redis-server and PostgreSQL for the shared-state tests, on loopback ports of their own.

Both are Debian packages that `./start.sh test` installs when missing. Each server lives in a
temporary directory and is torn down with it; nothing touches a system-wide instance. A
machine where the binaries cannot be found skips those tests with the reason, never mocks them;
under CI (`CI` set) it fails them instead, so a broken set-up cannot pass by skipping.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import redis

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {LOOPBACK}:{port} after {timeout_s} s")


def find_binary(name: str) -> str | None:
    """On PATH, or in Debian's versioned PostgreSQL folder (not on PATH by default)."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    return versions[-1] if versions else None


class RedisServer:
    """`redis-server` without persistence; `stop()` and `start()` keep the same port, so a
    test can kill it mid-run and bring it back where the proxies expect it."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="zproxy-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", LOOPBACK, "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """A throw-away cluster: initdb into a temp dir, pg_ctl on a free loopback port, trust
    auth. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user the
    Debian package creates."""

    def __init__(self, initdb: str, pg_ctl: str) -> None:
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="zproxy-pg-")
        self.data = os.path.join(self.dir, "data")
        self.user = "zproxy"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{LOOPBACK}:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        prefix: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise RuntimeError("running as root without runuser: cannot start PostgreSQL")
            shutil.chown(self.dir, "postgres")
            prefix = [runuser, "-u", "postgres", "--"]
        subprocess.run([*prefix, *args], check=True, cwd=self.dir,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        self._run(self.initdb, "-D", self.data, "-U", self.user, "--auth=trust",
                  "--encoding=UTF8", "--no-sync")
        options = f"-c listen_addresses={LOOPBACK} -p {self.port} -k {self.dir} -c fsync=off"
        self._run(self.pg_ctl, "-D", self.data, "-o", options, "-w", "-t", "30",
                  "-l", os.path.join(self.dir, "log"), "start")
        wait_port(self.port)

    def close(self) -> None:
        try:
            self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop")
        except (subprocess.CalledProcessError, RuntimeError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_server() -> RedisServer | str:
    """A started server, or why there is none."""
    binary = find_binary("redis-server")
    if binary is None:
        return "redis-server is not installed (./start.sh test installs it with apt-get)"
    server = RedisServer(binary)
    server.start()
    return server


def postgres_server() -> PostgresServer | str:
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        return "PostgreSQL is not installed (./start.sh test installs it with apt-get)"
    server = PostgresServer(initdb, pg_ctl)
    server.start()
    return server


def unavailable(reason: str) -> NoReturn:
    """Skip locally; fail under CI, where the servers must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so this fails instead of skipping", pytrace=False)
    pytest.skip(reason)


# --- fixtures (registered by tests/conftest.py) ----------------------------------------------


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    server = redis_server()
    if isinstance(server, str):
        unavailable(server)
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_session: RedisServer) -> str:
    """The session's Redis, empty and running for each test."""
    if redis_session.proc is None:  # a test stopped it
        redis_session.start()
    client = redis.Redis.from_url(redis_session.url)
    client.flushall()
    client.close()
    return redis_session.url


@pytest.fixture(scope="session")
def postgres_session() -> Iterator[PostgresServer]:
    server = postgres_server()
    if isinstance(server, str):
        unavailable(server)
    yield server
    server.close()


@pytest.fixture
async def postgres_url(postgres_session: PostgresServer) -> AsyncIterator[str]:
    """A fresh, empty database on the session's PostgreSQL for each test."""
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_session.url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield postgres_session.url.rsplit("/", 1)[0] + f"/{name}"
    admin = await asyncpg.connect(postgres_session.url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()
