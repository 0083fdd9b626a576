"""`python -m zproxy`: same entry point as run.py."""

import sys

from zproxy.server import main

if __name__ == "__main__":
    sys.exit(main())
