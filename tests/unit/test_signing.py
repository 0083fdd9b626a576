"""X-Signature (zai-protocol.md §4): the published vectors and the prompt choice."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from zproxy.config import DEFAULT_SIGNING_SECRET
from zproxy.providers.zai.signing import signature, signature_prompt

SECRET = "key-@@@@)))()((9))-xxxx&&&%%%%%"

# (request_id, timestamp_ms, user_id, prompt, signature) — §4.3
VECTORS = {
    "V1": ("d9fb3ca8-676f-46c3-90c7-ddc70a74e46d", 1771762969397,
           "d0d30815-b85a-4270-af63-b5346a9f3b13", "Reply with exactly: ok",
           "26be53ded6069ead38e6d4d596e54b020aaa2e17f75a4fa29325ead00484b214"),
    "V2": ("eef12d6c-6dc9-47a0-aae8-b9f3454f98c5", 1761038714733,
           "21ea9ec3-e492-4dbb-b522-fc0eaf64f0f6", "hi",
           "e1939c1a60c96c6ef2441cbbf09e72bc0d4895db7722410950be7822eb8ee71c"),
    "V3": ("00000000-0000-4000-8000-000000000001", 1767225600000,
           "316bcb48-ff2f-4a15-853d-f2a29b67ff0f", "你好，世界",
           "ecece79b8fb5b14882d403cec045f4cad046cb16f82177514f7e0872c566a4b1"),
    "V4": ("00000000-0000-4000-8000-000000000002", 1767225899999, "guest", "",
           "4abb25ca73cb47ed506205392d5a88c9a3e84f533475af68d39e7dad54d03bd9"),
}


def _sign(name: str, secret: str = SECRET) -> str:
    request_id, ts, user_id, prompt, _ = VECTORS[name]
    return signature(secret, request_id=request_id, user_id=user_id, timestamp_ms=ts,
                     prompt=prompt)


def test_secret_constant_is_the_31_byte_string_of_the_spec() -> None:
    assert DEFAULT_SIGNING_SECRET == SECRET
    assert len(SECRET.encode()) == 31
    assert SECRET.encode().hex() == (
        "6b65792d40404040292929282928283929292d787878782626262525252525")


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_published_vectors(name: str) -> None:
    assert _sign(name) == VECTORS[name][4]


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_signature_is_64_lowercase_hex(name: str) -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", _sign(name))


@pytest.mark.parametrize(("name", "w", "derived"), [
    ("V1", "UmVwbHkgd2l0aCBleGFjdGx5OiBvaw==",
     "b2fb416ee0ae56d2704aa98146f94dc4787412038a4aa7dfa365aeaaf13301c0"),
    ("V3", "5L2g5aW977yM5LiW55WM",
     "fb87b43b59f928eed228818238373fea4be13642a177753a404e00817aa86261"),
    ("V4", "",
     "fb87b43b59f928eed228818238373fea4be13642a177753a404e00817aa86261"),
])
def test_intermediate_values_match_the_spec(name: str, w: str, derived: str) -> None:
    request_id, ts, user_id, prompt, expected = VECTORS[name]
    assert base64.b64encode(prompt.encode()).decode() == w
    bucket = str(ts // 300_000)
    assert hmac.new(SECRET.encode(), bucket.encode(), hashlib.sha256).hexdigest() == derived
    to_sign = f"requestId,{request_id},timestamp,{ts},user_id,{user_id}|{w}|{ts}"
    rebuilt = hmac.new(derived.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    assert rebuilt == expected == _sign(name)


def test_v3_and_v4_share_a_bucket() -> None:
    assert VECTORS["V3"][1] // 300_000 == VECTORS["V4"][1] // 300_000 == 5890752


def test_old_secret_variant_with_base64_prompt() -> None:
    # §4.3: secret `junjie` + base64 prompt, V2 inputs
    assert _sign("V2", "junjie") == (
        "de7a724f854c340e4c45e8761f735e450ba499d4f2ef6b81c98ad1f46bc478b6")


def test_every_input_changes_the_signature() -> None:
    base = dict(request_id="r", user_id="u", timestamp_ms=1767225600000, prompt="p")
    reference = signature(SECRET, **base)  # type: ignore[arg-type]
    for key, value in [("request_id", "r2"), ("user_id", "u2"),
                       ("timestamp_ms", 1767225600001), ("prompt", "p2")]:
        assert signature(SECRET, **{**base, key: value}) != reference, key  # type: ignore[arg-type]
    assert signature("other", **base) != reference  # type: ignore[arg-type]


# --- signature_prompt --------------------------------------------------------------------


def test_prompt_is_last_user_message() -> None:
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "first"},
                {"role": "assistant", "content": "reply"}, {"role": "user", "content": "second"},
                {"role": "assistant", "content": "later reply"}]
    assert signature_prompt(messages) == "second"


def test_prompt_skips_user_messages_without_text() -> None:
    messages = [{"role": "user", "content": "has text"},
                {"role": "user", "content": ""},
                {"role": "user", "content": None},
                {"role": "user", "content": []},
                {"role": "user", "content": [{"type": "image_url",
                                              "image_url": {"url": "http://x/i.png"}}]},
                {"role": "user", "content": [{"type": "text", "text": "   "}]}]
    assert signature_prompt(messages) == "has text"


def test_prompt_parts_joined_with_single_space_and_stripped() -> None:
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "  Describe"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "this image  "},
    ]}]
    assert signature_prompt(messages) == "Describe this image"


def test_prompt_ignores_non_user_roles() -> None:
    messages = [{"role": "user", "content": "question"},
                {"role": "tool", "content": "tool output"},
                {"role": "system", "content": "system text"},
                {"role": "developer", "content": "dev text"}]
    assert signature_prompt(messages) == "question"


def test_prompt_empty_when_no_user_text() -> None:
    assert signature_prompt([]) == ""
    assert signature_prompt([{"role": "system", "content": "s"},
                             {"role": "assistant", "content": "a"}]) == ""


def test_prompt_string_content_is_kept_verbatim() -> None:
    assert signature_prompt([{"role": "user", "content": "line 1\nline 2"}]) == "line 1\nline 2"


def test_prompt_accepts_any_iterable() -> None:
    messages = iter([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert signature_prompt(messages) == "b"
