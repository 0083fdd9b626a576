"""The hot-path ids keep the formats of the uuid4-based ids they replace."""

from __future__ import annotations

import re
import uuid

from zproxy.ids import random_hex, random_uuid


def test_random_uuid_is_a_version_4_uuid() -> None:
    seen = set()
    for _ in range(2000):
        value = random_uuid()
        parsed = uuid.UUID(value)
        assert str(parsed) == value  # canonical lowercase 8-4-4-4-12 form
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        seen.add(value)
    assert len(seen) == 2000


def test_random_uuid_variant_digit_covers_all_four_values() -> None:
    assert {random_uuid()[19] for _ in range(2000)} == set("89ab")


def test_random_hex_length_and_alphabet() -> None:
    for chars in (1, 7, 24, 32):
        value = random_hex(chars)
        assert re.fullmatch(f"[0-9a-f]{{{chars}}}", value)
    assert len({random_hex(24) for _ in range(1000)}) == 1000
