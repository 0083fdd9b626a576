"""Import hygiene: pure modules stay free of aiohttp, every module imports on its own.

Pure modules are checked in fresh interpreters. For "imports on its own" (aiohttp's
tests/test_circular_imports.py) one helper interpreter preloads the third-party libraries,
then forks once per zproxy module: each child starts with no zproxy module loaded, so a
circular import inside zproxy still fails, without paying the aiohttp start-up 40 times.
Where there is no fork (Windows) each module gets its own fresh interpreter instead: slower,
same verdict.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

import zproxy

ROOT = Path(__file__).resolve().parents[2]

PURE = ("zproxy.sse", "zproxy.providers.zai.signing", "zproxy.providers.zai.wire",
        "zproxy.providers.zai.buffer", "zproxy.providers.zai.request", "zproxy.translate.response",
        "zproxy.core.events", "zproxy.core.models", "zproxy.api.schema",
        "zproxy.api.responses.request", "zproxy.api.responses.objects",
        "zproxy.api.responses.encoder", "zproxy.api.responses.store",
        "zproxy.api.responses.items", "zproxy.openapi_responses")

# `zproxy.__main__` is the `python -m zproxy` script: importing it starts the server.
ALL = tuple(sorted(m.name for m in pkgutil.walk_packages(zproxy.__path__, "zproxy.")
                   if not m.name.endswith(".__main__")))

_PURE_CHECK = ("import importlib, sys; importlib.import_module({name!r}); "
               "print(','.join(sorted(m for m in sys.modules "
               "if m == 'aiohttp' or m.startswith('aiohttp.'))))")

_FORKER = r"""
import importlib, json, os, sys, traceback
for lib in ("aiohttp", "aiohttp.web", "aiohttp_jinja2", "jinja2", "orjson", "dotenv",
            "structlog", "jsonschema", "json_repair", "prometheus_client", "yarl", "uvloop"):
    try:
        importlib.import_module(lib)
    except ImportError:
        pass
assert not any(m == "zproxy" or m.startswith("zproxy.") for m in sys.modules)
results = {}
for name in json.loads(sys.argv[1]):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            message, code = b"", 0
        except BaseException:
            message, code = traceback.format_exc().encode(), 1
        os.write(write, message[-4000:])
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    results[name] = [os.waitstatus_to_exitcode(status), text]
print(json.dumps(results))
"""


def _run(args: list[str]) -> tuple[int, str, str]:
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += "\n(timed out: an import blocks)"
    return proc.returncode, out.strip(), err.strip()


@cache
def _pure_results() -> dict[str, tuple[int, str, str]]:
    procs = {name: subprocess.Popen(
        [sys.executable, "-c", _PURE_CHECK.format(name=name)], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in PURE}
    results = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        results[name] = (proc.returncode, out.strip(), err.strip())
    return results


def _alone_without_fork() -> dict[str, tuple[int, str]]:
    procs = {name: subprocess.Popen([sys.executable, "-c", f"import {name}"], cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name in ALL}
    return {name: (proc.wait(120), (proc.stdout.read() if proc.stdout else ""))
            for name, proc in procs.items()}


@cache
def _alone_results() -> dict[str, tuple[int, str]]:
    if not hasattr(os, "fork"):
        return _alone_without_fork()
    code, out, err = _run(["-c", _FORKER, json.dumps(ALL)])
    assert code == 0, err
    return {name: (status, text) for name, (status, text) in json.loads(out).items()}


def test_walk_finds_the_package_modules() -> None:
    assert set(PURE) <= set(ALL)
    assert {"zproxy.app", "zproxy.config", "zproxy.providers.zai.client"} <= set(ALL)


@pytest.mark.parametrize("name", PURE)
def test_pure_module_does_not_import_aiohttp(name: str) -> None:
    code, out, err = _pure_results()[name]
    assert code == 0, err
    assert out == "", f"{name} pulls in {out}"


@pytest.mark.parametrize("name", ALL)
def test_module_imports_on_its_own(name: str) -> None:
    code, text = _alone_results()[name]
    assert code == 0, text


# --- the layout's import rules (house-style §2b): data flows one way --------------------------

PROVIDER_PACKAGES = ("zproxy.providers.zai", "zproxy.providers.k2think",
                     "zproxy.providers.longcat")


def _imports(path: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n.startswith(("zproxy.", "aiohttp"))}


def _modules(prefix: str) -> dict[str, set[str]]:
    found = {}
    for name in ALL:
        if name == prefix or name.startswith(prefix + "."):
            spec = name.replace(".", "/")
            path = ROOT / f"{spec}.py"
            if not path.exists():
                path = ROOT / spec / "__init__.py"
            found[name] = _imports(path)
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_core_imports_nothing_above_it() -> None:
    modules = _modules("zproxy.core")
    assert "zproxy.core.provider" in modules and "zproxy.core.events" in modules
    for name, imported in modules.items():
        bad = {i for i in imported if not _under(i, ("zproxy.core", "zproxy.errors"))}
        assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", ["zproxy.core.events", "zproxy.core.provider",
                                  "zproxy.core.markup", "zproxy.core.text",
                                  "zproxy.core.failures", "zproxy.core.plan",
                                  "zproxy.core.models"])
def test_core_module_does_not_import_aiohttp(name: str) -> None:
    code, out, err = _run(["-c", _PURE_CHECK.format(name=name)])
    assert code == 0, err
    assert out == "", f"{name} pulls in {out}"


def test_front_doors_and_engine_import_no_provider() -> None:
    modules = {**_modules("zproxy.api"), **_modules("zproxy.translate"),
               **_modules("zproxy.tools")}
    assert "zproxy.api.chat" in modules
    for name, imported in modules.items():
        bad = {i for i in imported if _under(i, PROVIDER_PACKAGES)}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_providers_import_neither_each_other_nor_the_api() -> None:
    for package in PROVIDER_PACKAGES:
        others = tuple(p for p in PROVIDER_PACKAGES if p != package)
        for name, imported in _modules(package).items():
            bad = {i for i in imported
                   if _under(i, (*others, "zproxy.api", "zproxy.providers.registry",
                                 "zproxy.translate", "zproxy.app", "zproxy.keys"))}
            assert not bad, f"{name} imports {sorted(bad)}"
