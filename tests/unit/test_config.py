"""load_settings: injected environ over .env.local over .env, aliases, errors naming the key."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from zproxy import config
from zproxy.config import VARIABLES, ConfigError, Settings, load_settings


def _load(env: dict[str, str] | None = None, files: list[Path] | None = None) -> Settings:
    return load_settings(environ=env or {}, env_files=files or [])


def _error(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        _load(env)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_defaults_equal_the_dataclass_defaults() -> None:
    assert _load() == Settings()


def test_every_variable_fills_a_settings_field() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert {v.field for v in config.VARIABLES} == fields
    names = [n for v in config.VARIABLES for n in v.names]
    assert len(names) == len(set(names))


# --- aliases -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["AUTH_TOKEN", "API_KEY", "DEFAULT_KEY"])
def test_client_key_aliases_take_comma_lists(name: str) -> None:
    settings = _load({name: " k1, k2 ,,k3 ,"})
    assert settings.client_keys == ("k1", "k2", "k3")
    assert settings.auth_required


def test_first_alias_wins() -> None:
    assert _load({"API_KEY": "b", "AUTH_TOKEN": "a"}).client_keys == ("a",)
    assert _load({"LISTEN_PORT": "2", "PORT": "1"}).port == 1


@pytest.mark.parametrize("name", ["ZAI_TOKEN", "UPSTREAM_TOKEN"])
def test_upstream_token_aliases(name: str) -> None:
    assert _load({name: "jwt1,jwt2"}).upstream_tokens == ("jwt1", "jwt2")


@pytest.mark.parametrize("name", ["PORT", "LISTEN_PORT"])
def test_port_aliases(name: str) -> None:
    assert _load({name: " 9000 "}).port == 9000


@pytest.mark.parametrize("name", ["DEBUG_LOGGING", "DEBUG_MODE"])
@pytest.mark.parametrize(("raw", "value"), [("true", True), ("1", True), ("YES", True),
                                            ("on", True), ("false", False), ("0", False),
                                            ("off", False), ("", False)])
def test_debug_aliases_and_bool_spellings(name: str, raw: str, value: bool) -> None:
    assert _load({name: raw}).debug is value


@pytest.mark.parametrize("name", ["API_ENDPOINT", "UPSTREAM_URL"])
def test_legacy_full_url_sets_base_and_path(name: str) -> None:
    settings = _load({name: "https://mirror.example:8443/api/chat/completions"})
    assert settings.upstream_base == "https://mirror.example:8443"
    assert settings.completion_path == "/api/chat/completions"


def test_legacy_url_without_path_keeps_default_path() -> None:
    settings = _load({"API_ENDPOINT": "http://127.0.0.1:9999/"})
    assert settings.upstream_base == "http://127.0.0.1:9999"
    assert settings.completion_path == "/api/v2/chat/completions"


def test_legacy_url_wins_over_base_and_version() -> None:
    settings = _load({"API_ENDPOINT": "https://a.example/x/y", "ZAI_BASE_URL": "https://b.example",
                      "UPSTREAM_COMPLETION_VERSION": "v1"})
    assert (settings.upstream_base, settings.completion_path) == ("https://a.example", "/x/y")


@pytest.mark.parametrize(("raw", "path"), [("v1", "/api/chat/completions"),
                                           ("V2", "/api/v2/chat/completions"),
                                           ("/custom/path", "/custom/path")])
def test_completion_version(raw: str, path: str) -> None:
    assert _load({"UPSTREAM_COMPLETION_VERSION": raw}).completion_path == path


@pytest.mark.parametrize("name", ["ANONYMOUS_MODE", "ENABLE_GUEST_TOKEN"])
def test_guest_mode_aliases(name: str) -> None:
    assert _load({name: "false"}).guest_enabled is False
    assert _load({}).guest_enabled is True


def test_skip_auth_token() -> None:
    settings = _load({"AUTH_TOKEN": "k", "SKIP_AUTH_TOKEN": "true"})
    assert settings.skip_auth and not settings.auth_required
    assert not _load({}).auth_required


def test_default_stream() -> None:
    assert _load({"DEFAULT_STREAM": "true"}).default_stream is True


@pytest.mark.parametrize(("raw", "value"), [("", None), ("auto", None), ("true", True),
                                            ("false", False), ("1", True)])
def test_enable_thinking_is_tri_state(raw: str, value: bool | None) -> None:
    assert _load({"ENABLE_THINKING": raw}).enable_thinking is value


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"])
def test_proxy_variables(name: str) -> None:
    assert _load({name: "http://proxy.local:3128/"}).http_proxy == "http://proxy.local:3128"


def test_https_proxy_wins_over_http_proxy() -> None:
    env = {"HTTP_PROXY": "http://plain:1", "HTTPS_PROXY": "http://secure:2"}
    assert _load(env).http_proxy == "http://secure:2"


def test_base_url_trailing_slash_removed() -> None:
    assert _load({"ZAI_BASE_URL": "https://chat.z.ai/"}).upstream_base == "https://chat.z.ai"


def test_fe_version_empty_means_scrape() -> None:
    assert _load({"ZAI_FE_VERSION": ""}).fe_version is None
    assert _load({"FE_VERSION": "prod-fe-1.0.1"}).fe_version == "prod-fe-1.0.1"


# --- sources -------------------------------------------------------------------------------


def test_environment_wins_over_env_local_over_env(tmp_path: Path) -> None:
    env_file, local = tmp_path / ".env", tmp_path / ".env.local"
    env_file.write_text("PORT=1111\nHOST=10.0.0.1\nAUTH_TOKEN=from-env\n")
    local.write_text("PORT=2222\nHOST=10.0.0.2\n")
    settings = load_settings(environ={"PORT": "3333"}, env_files=[local, env_file])
    assert settings.port == 3333
    assert settings.host == "10.0.0.2"
    assert settings.client_keys == ("from-env",)


def test_alias_in_environment_beats_primary_name_in_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=1111\n")
    # the environment wins over the files, whichever alias each one uses
    settings = load_settings(environ={"LISTEN_PORT": "4444"}, env_files=[env_file])
    assert settings.port == 4444


def test_missing_env_files_are_ignored(tmp_path: Path) -> None:
    assert load_settings(environ={}, env_files=[tmp_path / "nope", tmp_path]) == Settings()


def test_default_env_files_are_read_from_cwd(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("PORT=1234\nDEFAULT_STREAM=true\n")
    (tmp_path / ".env.local").write_text("PORT=5678\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert (settings.port, settings.default_stream) == (5678, True)


def test_os_environ_is_read_by_default_and_never_written(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("STATS_BUFFER_SIZE=7\nZAI_FINGERPRINT=never\n")
    monkeypatch.setenv("STATS_BUFFER_SIZE", "9")
    before = dict(os.environ)
    settings = load_settings(env_files=[env_file])
    assert settings.stats_size == 9
    assert settings.fingerprint == "never"
    assert dict(os.environ) == before


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "name"), [
    ({"PORT": "abc"}, "PORT"), ({"PORT": "70000"}, "PORT"), ({"LISTEN_PORT": "-1"}, "LISTEN_PORT"),
    ({"DEBUG_MODE": "maybe"}, "DEBUG_MODE"), ({"ANONYMOUS_MODE": "2"}, "ANONYMOUS_MODE"),
    ({"UPSTREAM_URL": "ftp://x/y"}, "UPSTREAM_URL"), ({"API_ENDPOINT": "not a url"},
                                                      "API_ENDPOINT"),
    ({"ZAI_BASE_URL": "chat.z.ai"}, "ZAI_BASE_URL"), ({"GUEST_POOL_SIZE": "0"}, "GUEST_POOL_SIZE"),
    ({"UPSTREAM_READ_TIMEOUT": "-1"}, "UPSTREAM_READ_TIMEOUT"),
    ({"UPSTREAM_COMPLETION_VERSION": "v3"}, "UPSTREAM_COMPLETION_VERSION"),
    ({"ZAI_EDIT_INDEX_UNIT": "bytes"}, "ZAI_EDIT_INDEX_UNIT"),
    ({"ENABLE_THINKING": "sometimes"}, "ENABLE_THINKING"),
    ({"HTTP_PROXY": "proxy:3128"}, "HTTP_PROXY"),
])
def test_bad_value_raises_naming_the_variable(env: dict[str, str], name: str) -> None:
    message = _error(env)
    assert message.startswith(name + "=") or name in message
    assert repr(env[name]) in message or env[name] in message


def test_bad_value_in_env_file_names_the_variable(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG_LOGGING=perhaps\n")
    with pytest.raises(ConfigError, match="DEBUG_LOGGING"):
        load_settings(environ={}, env_files=[env_file])


def test_secret_values_are_hidden_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def reject(raw: str) -> Any:
        raise ValueError("bad key format")

    variables = tuple(dataclasses.replace(v, parse=reject) if v.field == "client_keys" else v
                      for v in config.VARIABLES)
    monkeypatch.setattr(config, "VARIABLES", variables)
    message = _error({"AUTH_TOKEN": "sk-super-secret-value"})
    assert "AUTH_TOKEN" in message
    assert "sk-super-secret-value" not in message
    assert "bad key format" in message


def test_secret_variables_are_marked() -> None:
    secret = {v.field for v in config.VARIABLES if v.secret}
    assert {"client_keys", "upstream_tokens", "signing_secret"} <= secret


def test_proxy_credentials_are_hidden_in_errors() -> None:
    # proxy URLs carry user:password; a bad one must not print the password
    message = _error({"HTTPS_PROXY": "socks5://alice:hunter2@proxy.local:1080"})
    assert "HTTPS_PROXY" in message
    assert "hunter2" not in message


def test_replace_returns_new_settings() -> None:
    settings = Settings()
    changed = settings.replace(port=1)
    assert changed.port == 1 and settings.port == 8080


def test_env_example_documents_every_variable() -> None:
    """`.env.example` is generated from VARIABLES: when a variable changes, write the
    output of `zproxy.config.render_env_example()` to it."""
    from pathlib import Path

    from zproxy.config import render_env_example

    example = Path(__file__).resolve().parents[2] / ".env.example"
    assert example.read_text("utf-8") == render_env_example()
    for var in VARIABLES:
        assert f"# {var.name}=" in example.read_text("utf-8")


def test_port_zero_picks_a_free_port_and_host_defaults_to_loopback() -> None:
    assert _load({"PORT": "0"}).port == 0
    assert _load({}).host == "127.0.0.1" == Settings().host


@pytest.mark.parametrize(("raw", "value"), [("3000,10,10", (3000, 10, 10)),
                                            (" 700, 10 ,10 ", (700, 10, 10)),
                                            ("default", None), ("", None)])
def test_gc_thresholds(raw: str, value: tuple[int, int, int] | None) -> None:
    assert _load({"GC_THRESHOLDS": raw}).gc_thresholds == value


@pytest.mark.parametrize("raw", ["3000,10", "0,10,10", "a,b,c", "1,2,3,4"])
def test_gc_thresholds_refused(raw: str) -> None:
    assert "GC_THRESHOLDS" in _error({"GC_THRESHOLDS": raw})


def test_tune_gc_freezes_the_start_up_heap_and_sets_the_thresholds() -> None:
    import gc

    from zproxy.server import tune_gc

    before = gc.get_threshold()
    try:
        tune_gc(Settings(gc_thresholds=(4321, 11, 12)))
        assert gc.get_threshold() == (4321, 11, 12)
        assert gc.get_freeze_count() > 0
        tune_gc(Settings(gc_thresholds=None))  # `default`: Python's own stay
        assert gc.get_threshold() == (4321, 11, 12)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
