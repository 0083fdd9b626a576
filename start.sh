#!/usr/bin/env bash
# zproxy launcher.
#   ./start.sh             install what is missing, then serve on $HOST:$PORT (default
#                          127.0.0.1:8080), guest mode
#   ./start.sh demo        offline demo: the proxy and a fake Z.AI upstream that answers
#                          (echo, tool calls, reasoning) on this machine; nothing goes out
#   ./start.sh test [ARGS] install test dependencies (and Chromium), then lint, type-check and
#                          run every test; ARGS go to pytest
# Settings come from the environment, .env.local and .env (the environment wins); zproxy reads
# the files itself so that precedence holds, see .env.example.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${ZPROXY_VENV:-.venv}

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3 python; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "zproxy needs Python 3.11 or newer" >&2; return 1
}

ensure_venv() {  # $1: extra to install ("" or "test")
  local extra=$1 stamp
  if [ ! -x "$VENV/bin/python" ]; then
    "$(find_python)" -m venv "$VENV"
  fi
  stamp="$VENV/.zproxy-installed${extra:+-$extra}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "zproxy: installing dependencies${extra:+ ($extra)}…" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      -e ".${extra:+[$extra]}"
    touch "$stamp"
  fi
}

apt_updated=""
apt_install() {  # $@: Debian packages; `apt-get update` runs once per start.sh
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
  $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_chromium() {  # the dashboard tests drive a real headless Chromium (Debian package)
  if command -v chromium >/dev/null 2>&1 || [ -n "${ZPROXY_CHROMIUM:-}" ]; then return 0; fi
  if command -v apt-get >/dev/null 2>&1; then
    echo "zproxy: installing Chromium for the browser tests…" >&2
    apt_install chromium
  else
    echo "zproxy: chromium not found and no apt-get; set ZPROXY_CHROMIUM=/path/to/chromium" >&2
  fi
}

ensure_services() {  # the shared-state tests run a real redis-server and PostgreSQL
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null ||
    missing+=(postgresql)
  [ ${#missing[@]} -eq 0 ] && return 0
  if command -v apt-get >/dev/null 2>&1; then
    echo "zproxy: installing ${missing[*]} for the shared-state tests…" >&2
    apt_install "${missing[@]}"
  else
    echo "zproxy: ${missing[*]} not found and no apt-get; those tests will be skipped" >&2
  fi
}

case "${1:-serve}" in
  test)
    shift
    ensure_venv test
    ensure_chromium
    ensure_services
    "$VENV/bin/ruff" check zproxy tests run.py
    "$VENV/bin/mypy"
    exec "$VENV/bin/python" -m pytest -q "$@"
    ;;
  serve)
    ensure_venv ""
    exec "$VENV/bin/python" run.py
    ;;
  demo)
    shift
    ensure_venv ""
    exec "$VENV/bin/python" -m tests.fakes.demo "$@"
    ;;
  *)
    echo "usage: $0 [demo | test [pytest args…]]" >&2; exit 2
    ;;
esac
