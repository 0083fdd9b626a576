"""`python -m zproxy`: same entry point as run.py."""

import sys

from zproxy.server import main

sys.exit(main())
