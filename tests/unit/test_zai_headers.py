"""`BrowserHeaders`: the browser's headers in the browser's order, names made once."""

from __future__ import annotations

from zproxy.providers.zai.headers import BrowserHeaders

BASE = "https://chat.z.ai"


def test_the_headers_of_a_completion_in_order() -> None:
    headers = BrowserHeaders(BASE, "UA/1")("tok", "chat-1", fe_version="prod-fe-1.0.9",
                                            signature="ab12")
    assert list(headers.items()) == [
        ("Authorization", "Bearer tok"),
        ("Content-Type", "application/json"),
        ("Accept", "*/*"),
        ("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8"),
        ("User-Agent", "UA/1"),
        ("Origin", BASE),
        ("Referer", f"{BASE}/c/chat-1"),
        ("sec-ch-ua", '"Chromium";v="140", "Not=A?Brand";v="24", "Google Chrome";v="140"'),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", '"Windows"'),
        ("Sec-Fetch-Dest", "empty"),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Site", "same-origin"),
        ("X-FE-Version", "prod-fe-1.0.9"),
        ("X-Signature", "ab12"),
    ]


def test_other_calls_have_no_signature_and_refer_to_the_front_page() -> None:
    headers = BrowserHeaders(BASE, "UA/1")("tok")
    assert headers["referer"] == f"{BASE}/"
    assert "X-Signature" not in headers and "X-FE-Version" not in headers


def test_every_call_shares_the_same_name_objects() -> None:
    make = BrowserHeaders(BASE, "UA/1")
    first, second = list(make("a", "c1").keys()), list(make("b", "c2").keys())
    assert all(a is b for a, b in zip(first, second, strict=True))
