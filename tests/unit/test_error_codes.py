"""`errors.ERROR_CODES` is the one list of error codes: it must match the source exactly.

The source is read as Python syntax, not run: every string given as a `code` (keyword, the
positional slot of a helper's `code` parameter, that parameter's default) and every class
`default_code`. A new code raised anywhere without a row in the table fails here, and so does a
row nothing raises any more.
"""

from __future__ import annotations

import ast
import http
from collections.abc import Iterator
from pathlib import Path

import zproxy
from zproxy import errors
from zproxy.errors import ERROR_CODES, ProxyError
from zproxy.openapi import error_classes

SOURCE = Path(zproxy.__file__).parent
ERROR_CLASSES = {cls.__name__ for _, cls in error_classes(ProxyError)}


def _trees() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SOURCE.rglob("*.py")):
        yield path, ast.parse(path.read_text("utf-8"), str(path))


def _code_slots(tree: ast.Module) -> dict[str, int]:
    """Functions with a `code` parameter -> its positional index."""
    slots = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names = [a.arg for a in node.args.posonlyargs + node.args.args]
            if "code" in names and node.name not in ("__init__",):
                slots[node.name] = names.index("code")
    return slots


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def raised_codes() -> dict[str, set[str]]:
    """code -> the files that raise it."""
    found: dict[str, set[str]] = {}

    def add(code: str | None, path: Path) -> None:
        if code:
            found.setdefault(code, set()).add(path.relative_to(SOURCE).as_posix())

    for path, tree in _trees():
        slots = _code_slots(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "default_code" for t in node.targets):
                add(_string(node.value), path)
            elif isinstance(node, ast.FunctionDef) and node.name in slots:
                defaults = node.args.defaults
                args = node.args.posonlyargs + node.args.args
                offset = len(args) - len(defaults)
                index = slots[node.name]
                if index >= offset:
                    add(_string(defaults[index - offset]), path)
            elif isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "code":
                        add(_string(keyword.value), path)
                name = node.func.id if isinstance(node.func, ast.Name) else None
                if name in slots and len(node.args) > slots[name]:
                    add(_string(node.args[slots[name]]), path)
    return found


def test_every_raised_code_is_in_the_table_and_every_row_is_raised() -> None:
    table = {row.code for row in ERROR_CODES}
    raised = set(raised_codes())
    routed = {row.code for row in ERROR_CODES if row.router}
    assert raised - table == set(), "codes raised but missing from errors.ERROR_CODES"
    assert table - raised - routed == set(), "codes in errors.ERROR_CODES nothing raises"


def test_router_codes_are_the_status_phrases_openai_errors_derives() -> None:
    routed = [row for row in ERROR_CODES if row.router]
    assert routed
    for row in routed:
        assert row.code == http.HTTPStatus(row.status).phrase.lower().replace(" ", "_")


def test_each_code_once_with_its_class_status_and_type() -> None:
    codes = [row.code for row in ERROR_CODES if not row.router]
    assert len(codes) == len(set(codes))
    rows = {row.code: row for row in ERROR_CODES}
    for _, cls in error_classes(ProxyError):
        if cls.default_code is not None:
            row = rows[cls.default_code]
            assert (row.status, row.type) == (cls.status, cls.type), cls.__name__
    assert rows["internal_error"].status == errors.to_openai_error(RuntimeError())[0]
    for row in ERROR_CODES:
        assert row.meaning.endswith(".") and row.meaning.count("`") % 2 == 0, row.code


def test_client_errors_always_carry_a_code() -> None:
    """A ProxyError built without `code` and with no class default reaches clients as null."""
    defaults = {cls.__name__ for _, cls in error_classes(ProxyError) if cls.default_code}
    missing = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ERROR_CLASSES - defaults
                    and not any(k.arg == "code" for k in node.keywords)):
                missing.append(f"{path.name}:{node.lineno}")
    assert missing == []


def test_the_scanner_finds_what_it_should() -> None:
    """Guard against a scanner that silently finds nothing."""
    raised = raised_codes()
    assert "api/schema.py" in raised["invalid_json"]  # positional slot of _bad()
    assert "api/schema.py" in raised["invalid_value"]  # _bad()'s default
    assert "images.py" in raised["invalid_image"]
    assert "errors.py" in raised["upstream_timeout"]  # default_code
    assert "providers/zai/provider.py" in raised["vision_requires_token"]  # keyword
