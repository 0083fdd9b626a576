"""How hard the fuzz tests push: bounded for every run, longer on request.

`ZPROXY_FUZZ=long` (or `./start.sh test --fuzz-long`, see tests/conftest.py) multiplies the
examples of every property test and schemathesis case, for a soak of the parsers.
"""

from __future__ import annotations

import os
from typing import Final

from hypothesis import HealthCheck, settings

LONG: Final = os.environ.get("ZPROXY_FUZZ", "").lower() == "long"


def examples(bounded: int) -> int:
    return bounded * 40 if LONG else bounded


def fuzz(bounded: int) -> settings:
    """Hypothesis settings for a property test: `bounded` examples, or 40x in a long run."""
    return settings(max_examples=examples(bounded), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
