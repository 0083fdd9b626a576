#!/usr/bin/env python3
"""Start zproxy: settings from the environment, .env.local and .env."""

import sys

from zproxy.server import main

if __name__ == "__main__":
    sys.exit(main())
