"""Every pooled guest stale at once (upstream revoked them): one request still succeeds."""

from __future__ import annotations

from tests.conftest import MakeProxy
from tests.e2e.helpers import USER, async_client
from tests.fakes.zai import COMPLETION_PATHS, FakeZai
from zproxy.keys import UPSTREAM


async def test_all_stale_guests_are_replaced_within_one_request(make_proxy: MakeProxy,
                                                                 fake: FakeZai) -> None:
    proxy = await make_proxy(guest_pool_size=3, max_attempts=3)
    pool = proxy.app[UPSTREAM].tokens
    await pool.maintain()  # three pooled guests, as after some traffic
    assert len(pool.guests) == 3
    for token in list(fake.guest_tokens):
        fake.expire_token(token)

    reply = await async_client(proxy.base_url).chat.completions.create(model="GLM-4.6",
                                                                       messages=USER)
    assert reply.choices[0].message.content

    attempts = [r for r in fake.requests if r.path in COMPLETION_PATHS]
    assert len(attempts) == 2  # one stale guest, then a fresh login: no stale sibling tried
    logins = [r for r in fake.requests if r.path == "/api/v1/auths/"]
    assert len(logins) == 4
    assert attempts[-1].query["token"] not in fake.expired
