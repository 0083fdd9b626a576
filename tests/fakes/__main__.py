"""Run the fake Z.AI upstream on its own: ``.venv/bin/python -m tests.fakes --port 9090``.

Point a locally running zproxy at the printed URL for offline development; ``--demo`` answers
the prompt (echo, tool calls, reasoning) instead of replaying the recorded transcripts.
``./start.sh demo`` starts it together with the proxy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from aiohttp import web

    from tests.fakes.zai import FakeZai
except ModuleNotFoundError as missing:  # run with a Python that lacks the project's packages
    sys.exit(f"python -m tests.fakes: {missing}. Run it with the project's virtualenv, "
             "e.g. .venv/bin/python -m tests.fakes (./start.sh demo creates it).")


def _user_token(value: str) -> tuple[str, str]:
    token, sep, user_id = value.partition("=")
    if not sep or not token or not user_id:
        raise argparse.ArgumentTypeError("expected TOKEN=USER_ID")
    return token, user_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--fixtures", type=Path, default=None, help="fixtures directory")
    parser.add_argument("--fe-version", default="prod-fe-1.1.35")
    parser.add_argument("--min-fe-version", default="prod-fe-1.0.94")
    parser.add_argument("--frame-delay", type=float, default=0.0, metavar="S")
    parser.add_argument("--chunk-size", type=int, default=None, metavar="N")
    parser.add_argument("--done-marker", action="store_true", help='append "data: [DONE]"')
    parser.add_argument("--demo", action="store_true",
                        help="answer the prompt (echo, tool calls, reasoning) and log requests")
    parser.add_argument("--concurrency-limit", type=int, default=None, metavar="N")
    parser.add_argument("--user-token", type=_user_token, action="append", default=[],
                        metavar="TOKEN=USER_ID", help="a role:user token (repeatable)")
    args = parser.parse_args(argv)
    try:
        fake = FakeZai(fixtures_dir=args.fixtures, fe_version=args.fe_version,
                       min_fe_version=args.min_fe_version, frame_delay=args.frame_delay,
                       chunk_size=args.chunk_size, done_marker=args.done_marker,
                       concurrency_limit=args.concurrency_limit,
                       user_tokens=dict(args.user_token), demo=args.demo,
                       log=lambda line: print(f"fake z.ai: {line}", flush=True))
    except (FileNotFoundError, ValueError) as exc:
        print(f"python -m tests.fakes: {exc}", file=sys.stderr)
        return 2
    print(f"fake Z.AI upstream on http://{args.host}:{args.port}/ "
          f"(fixtures: {fake.fixtures.root})", flush=True)
    try:
        web.run_app(fake.app, host=args.host, port=args.port, print=None)
    except OSError as exc:
        print(f"python -m tests.fakes: cannot listen on {args.host}:{args.port} (--port): "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
