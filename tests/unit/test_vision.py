"""Vision images: data URLs, the SSRF guard, guarded fetches and upload to the fake Z.AI."""

from __future__ import annotations

import base64
import ipaddress
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from pytest_aiohttp import AiohttpServer

from tests.fakes.zai import FakeZai
from zproxy import errors
from zproxy.errors import ClientRequestError
from zproxy.images import (
    GuardedResolver,
    ImageInput,
    check_url,
    fetch_image,
    is_forbidden_address,
    parse_data_url,
)
from zproxy.providers.zai.vision import file_descriptor, image_part, upload_image


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


PNG = tiny_png()
GIF = b"GIF89a" + b"\x00" * 20
PUBLIC_IP = "93.184.216.34"


def data_url(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def fake_resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(f"unknown host {host}")
        return table[host]

    return resolve


class MapResolver(AbstractResolver):
    """Connect every host name to 127.0.0.1 (where the test server listens)."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port,
                 "family": socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


def code_of(exc: pytest.ExceptionInfo[ClientRequestError]) -> str | None:
    assert exc.value.status == 400 and exc.value.param == "messages"
    return exc.value.code


# --- data URLs ------------------------------------------------------------------------------


def test_parse_data_url() -> None:
    image = parse_data_url(data_url(PNG), max_bytes=1000)
    assert image == ImageInput(data=PNG, content_type="image/png", filename="image.png")


def test_parse_data_url_trusts_bytes_over_declared_type() -> None:
    image = parse_data_url(data_url(GIF, "image/jpg"), max_bytes=1000)
    assert image.content_type == "image/gif" and image.filename == "image.gif"


@pytest.mark.parametrize(("url", "code"), [
    ("https://x/a.png", "invalid_image"),
    ("data:image/png,rawbytes", "invalid_image"),
    ("data:image/svg+xml;base64,PHN2Zz4=", "invalid_image"),
    ("data:text/plain;base64,aGk=", "invalid_image"),
    ("data:image/png;base64,%%%notbase64", "invalid_image"),
    (data_url(b"not an image at all"), "invalid_image"),
    (data_url(PNG * 10), "image_too_large"),
])
def test_parse_data_url_errors(url: str, code: str) -> None:
    with pytest.raises(ClientRequestError) as exc:
        parse_data_url(url, max_bytes=len(PNG) * 2)
    assert code_of(exc) == code


def test_parse_data_url_size_limit_is_exact() -> None:
    assert parse_data_url(data_url(PNG), max_bytes=len(PNG)).data == PNG
    with pytest.raises(ClientRequestError) as exc:
        parse_data_url(data_url(PNG), max_bytes=len(PNG) - 1)
    assert code_of(exc) == "image_too_large"


# --- the address guard ----------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "0.1.2.3", "224.0.0.1", "255.255.255.255", "::1", "::", "fd00::1",
    "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::", "64:ff9b::a00:1",
])
def test_forbidden_addresses(address: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [
    PUBLIC_IP, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses(address: str) -> None:
    assert not is_forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("answers", [
    ["127.0.0.1"], ["10.0.0.5"], ["172.16.3.4"], ["192.168.0.10"], ["169.254.169.254"],
    ["::1"], ["fd00::5"], ["::ffff:127.0.0.1"], [PUBLIC_IP, "10.0.0.1"],
])
async def test_check_url_refuses_any_private_answer(answers: list[str]) -> None:
    resolve = fake_resolver({"evil.test": answers})
    with pytest.raises(ClientRequestError) as exc:
        await check_url("http://evil.test/a.png", resolve=resolve)
    assert code_of(exc) == "image_url_forbidden"
    assert await check_url("http://evil.test/a.png", resolve=resolve, allow_private=True)


async def test_check_url_allows_public_and_checks_literals() -> None:
    resolve = fake_resolver({"public.test": [PUBLIC_IP, "2606:4700:4700::1111"]})
    url = await check_url("https://public.test/x.png", resolve=resolve)
    assert url.host == "public.test"
    for literal in ("http://127.0.0.1/", "http://[::1]:8080/", "http://[::ffff:7f00:1]/"):
        with pytest.raises(ClientRequestError) as exc:
            await check_url(literal, resolve=resolve)
        assert code_of(exc) == "image_url_forbidden"


@pytest.mark.parametrize(("url", "code"), [
    ("ftp://public.test/a.png", "invalid_image"),
    ("file:///etc/passwd", "invalid_image"),
    ("http:///nohost", "invalid_image"),
    ("http://unknown.test/a.png", "image_fetch_failed"),
    ("http://empty.test/a.png", "image_fetch_failed"),
    ("http://weird.test/a.png", "image_url_forbidden"),
])
async def test_check_url_errors(url: str, code: str) -> None:
    resolve = fake_resolver({"empty.test": [], "weird.test": ["not-an-ip"]})
    with pytest.raises(ClientRequestError) as exc:
        await check_url(url, resolve=resolve)
    assert code_of(exc) == code


async def test_guarded_resolver_refuses_private_answers() -> None:
    guarded = GuardedResolver(MapResolver())
    with pytest.raises(OSError):
        await guarded.resolve("anything.test", 80)
    await guarded.close()


# --- fetching from a local server -----------------------------------------------------------


def image_app(port_box: list[int]) -> web.Application:
    async def png(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})
        await resp.prepare(request)
        for _ in range(64):
            await resp.write(PNG + b"\x00" * 1024)
        return resp

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html></html>", content_type="text/html")

    async def fake_png(request: web.Request) -> web.Response:
        return web.Response(body=b"<html>", content_type="image/png")

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404)

    def redirect(target: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            location = target.format(port=port_box[0])
            raise web.HTTPFound(location)

        return handler

    app = web.Application()
    app.add_routes([
        web.get("/a.png", png), web.get("/big", big), web.get("/page", html),
        web.get("/fake", fake_png), web.get("/missing", missing),
        web.get("/to-private", redirect("http://127.0.0.1:{port}/a.png")),
        web.get("/to-public", redirect("http://public.test:{port}/a.png")),
        web.get("/relative", redirect("/a.png")),
        web.get("/loop", redirect("/loop")),
    ])
    return app


@pytest.fixture
async def image_server(aiohttp_server: AiohttpServer) -> Any:
    port_box: list[int] = []
    server = await aiohttp_server(image_app(port_box))
    assert server.port is not None
    port_box.append(server.port)
    return server


async def test_fetch_local_image_with_allow_private(image_server: Any) -> None:
    async with aiohttp.ClientSession() as session:
        image = await fetch_image(session, str(image_server.make_url("/a.png")),
                                  max_bytes=10_000, allow_private=True)
    assert image == ImageInput(data=PNG, content_type="image/png", filename="a.png")


async def test_fetch_local_image_refused_without_allow_private(image_server: Any) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ClientRequestError) as exc:
            await fetch_image(session, str(image_server.make_url("/a.png")),
                              max_bytes=10_000, allow_private=False)
    assert code_of(exc) == "image_url_forbidden"


@pytest.mark.parametrize(("path", "code"), [
    ("/big", "image_too_large"),
    ("/page", "invalid_image"),
    ("/fake", "invalid_image"),
    ("/missing", "image_fetch_failed"),
    ("/loop", "image_fetch_failed"),
])
async def test_fetch_refusals(image_server: Any, path: str, code: str) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ClientRequestError) as exc:
            await fetch_image(session, str(image_server.make_url(path)), max_bytes=8_000,
                              allow_private=True)
    assert code_of(exc) == code


async def test_fetch_follows_relative_redirect(image_server: Any) -> None:
    async with aiohttp.ClientSession() as session:
        image = await fetch_image(session, str(image_server.make_url("/relative")),
                                  max_bytes=10_000, allow_private=True)
    assert image.data == PNG


async def test_fetch_connection_error_is_client_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ClientRequestError) as exc:
            await fetch_image(session, f"http://127.0.0.1:{port}/a.png", max_bytes=100,
                              allow_private=True, timeout_s=5)
    assert code_of(exc) == "image_fetch_failed"


async def test_redirect_to_private_address_is_rechecked(image_server: Any) -> None:
    # The check sees public.test as public; the connector still reaches the local server.
    resolve = fake_resolver({"public.test": [PUBLIC_IP]})
    start = f"http://public.test:{image_server.port}"
    connector = aiohttp.TCPConnector(resolver=MapResolver())
    async with aiohttp.ClientSession(connector=connector) as session:
        image = await fetch_image(session, f"{start}/to-public", max_bytes=10_000,
                                  allow_private=False, resolve=resolve)
        assert image.data == PNG
        with pytest.raises(ClientRequestError) as exc:
            await fetch_image(session, f"{start}/to-private", max_bytes=10_000,
                              allow_private=False, resolve=resolve)
    assert code_of(exc) == "image_url_forbidden"


# --- upload to the fake Z.AI ----------------------------------------------------------------


async def test_upload_image_to_fake_zai(aiohttp_server: AiohttpServer) -> None:
    fake = FakeZai(user_tokens={"tok": "uid"})
    server = await aiohttp_server(fake.app)
    image = ImageInput(data=PNG, content_type="image/png", filename="a.png")
    async with aiohttp.ClientSession() as session:
        upload = await upload_image(session, base_url=str(server.make_url("/")),
                                    headers={"Authorization": "Bearer tok",
                                             "Content-Type": "application/json"},
                                    image=image)
    assert upload["user_id"] == "uid"
    assert upload["meta"] == {"name": "a.png", "content_type": "image/png", "size": len(PNG),
                              "data": {}, "oss_endpoint": "", "cdn_url": ""}
    assert fake.uploads[upload["id"]]["content"] == PNG


@pytest.mark.parametrize(("token", "error"), [
    ("nobody", errors.UpstreamAuthError),
    (None, errors.UpstreamAuthError),
])
async def test_upload_rejected(aiohttp_server: AiohttpServer, token: str | None,
                               error: type[Exception]) -> None:
    fake = FakeZai(user_tokens={"tok": "uid"})
    server = await aiohttp_server(fake.app)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(error):
            await upload_image(session, base_url=str(server.make_url("/")), headers=headers,
                               image=ImageInput(PNG, "image/png", "a.png"))


async def test_upload_unreachable_upstream() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(errors.UpstreamUnavailable):
            await upload_image(session, base_url=f"http://127.0.0.1:{port}", headers={},
                               image=ImageInput(PNG, "image/png", "a.png"))


# --- descriptors ----------------------------------------------------------------------------


UPLOAD = {"id": "f-1", "user_id": "u", "hash": None, "filename": "x.png", "data": {},
          "meta": {"name": "x.png", "content_type": "image/png", "size": 75}}


def test_file_descriptor_shape() -> None:
    assert file_descriptor(UPLOAD, item_id="item-1") == {
        "type": "image", "file": UPLOAD, "id": "f-1", "url": "/api/v1/files/f-1/content",
        "name": "x.png", "status": "uploaded", "size": 75, "error": "", "itemId": "item-1",
        "media": "image"}
    with_ref = file_descriptor(UPLOAD, item_id="item-1", ref_user_msg_id="m-1")
    assert with_ref["ref_user_msg_id"] == "m-1"


def test_image_part() -> None:
    assert image_part(UPLOAD) == {"type": "image_url", "image_url": {"url": "f-1"}}
