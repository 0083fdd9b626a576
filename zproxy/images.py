"""Client images for vision models: data URLs and guarded fetches of client URLs.

Provider-neutral: the engine loads a request's images here before any provider sees them
(Z.AI then uploads them, `zproxy.providers.zai.vision`).

A client's `image_url` is either a base64 `data:` URL or an http(s) URL. Fetching a client URL
from the proxy is a server-side request forgery risk, so `fetch_image` resolves the host first
and refuses loopback, private, link-local and other non-public addresses (unless the operator
allows them), follows at most three redirects by hand re-checking every hop, and stops reading
at the size cap. `GuardedResolver` makes the same check when aiohttp connects, which closes the
gap left by a DNS answer that changes between the check and the connection.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from zproxy.errors import ClientRequestError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], Awaitable[list[str]]]

MAX_REDIRECTS: Final = 3
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_READ_CHUNK: Final = 64 * 1024
_EXTENSIONS: Final = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif",
                      "image/webp": ".webp"}
_ALIASES: Final = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}
_EXTRA_FORBIDDEN: Final = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "169.254.169.254/32", "192.0.0.0/24", "198.18.0.0/15"))
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class ImageInput:
    data: bytes
    content_type: str
    filename: str


def _bad(message: str, code: str = "invalid_image") -> ClientRequestError:
    return ClientRequestError(message, param="messages", code=code)


# --- content checks -------------------------------------------------------------------------


def sniff_image_type(data: bytes) -> str | None:
    """The image type the leading bytes announce, among the accepted ones."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _declared_type(content_type: str) -> str:
    value = content_type.split(";", 1)[0].strip().lower()
    value = _ALIASES.get(value, value)
    if value not in _EXTENSIONS:
        raise _bad(f"unsupported image type {value or '(none)'!r}; "
                   "use image/png, image/jpeg, image/gif or image/webp")
    return value


def _image(data: bytes, declared: str, name: str = "") -> ImageInput:
    actual = sniff_image_type(data)
    if actual is None:
        raise _bad(f"the {declared} image data is not a valid image")
    ext = _EXTENSIONS[actual]
    filename = name if name.lower().endswith(ext) else f"image{ext}"
    return ImageInput(data=data, content_type=actual, filename=filename)


def _too_large(max_bytes: int) -> ClientRequestError:
    return _bad(f"image is larger than {max_bytes} bytes", "image_too_large")


def parse_data_url(url: str, *, max_bytes: int) -> ImageInput:
    """A base64 `data:image/...` URL → its bytes (type checked against the bytes)."""
    if url[:5].lower() != "data:" or "," not in url:
        raise _bad("image_url must be an http(s) URL or a base64 data URL")
    header, payload = url[5:].split(",", 1)
    media, *params = header.split(";")
    if "base64" not in (p.strip().lower() for p in params):
        raise _bad("only base64 data URLs are supported for images")
    declared = _declared_type(media)
    payload = "".join(payload.split())
    if len(payload) // 4 * 3 > max_bytes + 2:
        raise _too_large(max_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad("image data URL is not valid base64") from exc
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return _image(data, declared)


# --- address checks -------------------------------------------------------------------------


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_forbidden_address(ip: IPAddress) -> bool:
    """True for anything but a public unicast address (IPv4 inside IPv6 included)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_forbidden_address(embedded)
    return (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified or not ip.is_global
            or any(ip in net for net in _EXTRA_FORBIDDEN if net.version == ip.version))


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _web_url(url: str | URL) -> tuple[URL, str, int]:
    try:
        parsed = URL(url)
    except (TypeError, ValueError) as exc:
        raise _bad("image_url is not a valid URL") from exc
    host, port = parsed.raw_host, parsed.port
    if parsed.scheme not in {"http", "https"} or not host or port is None:
        raise _bad("image_url must be an http(s) URL or a base64 data URL")
    return parsed, host, port


async def check_url(url: str | URL, *, resolve: Resolve | None = None,
                    allow_private: bool = False) -> URL:
    """Validate an image URL; unless `allow_private`, refuse it when ANY address of its host
    is not public. Returns the parsed URL."""
    parsed, host, port = _web_url(url)
    if allow_private:
        return parsed
    literal = _parse_ip(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        addresses = await _resolve_all(resolve or system_resolve, host, port)
    if any(is_forbidden_address(ip) for ip in addresses):
        raise _bad(f"image_url host {host!r} is not a public address", "image_url_forbidden")
    return parsed


async def _resolve_all(resolve: Resolve, host: str, port: int) -> list[IPAddress]:
    try:
        answers = await resolve(host, port)
    except OSError as exc:
        raise _bad(f"cannot resolve image host {host!r}", "image_fetch_failed") from exc
    addresses = [_parse_ip(a) for a in answers]
    if not addresses:
        raise _bad(f"cannot resolve image host {host!r}", "image_fetch_failed")
    if None in addresses:
        raise _bad(f"image host {host!r} resolved to an unusable address",
                   "image_url_forbidden")
    return [a for a in addresses if a is not None]


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that fails when a host resolves to any non-public address.

    Use it in the connector of the session given to `fetch_image`; IP-literal URLs never
    reach a resolver, and `check_url` covers them.
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            ip = _parse_ip(result["host"])
            if ip is None or is_forbidden_address(ip):
                raise OSError(f"{host} resolves to a non-public address")
        return results

    async def close(self) -> None:
        await self._inner.close()


# --- fetching -------------------------------------------------------------------------------


@contextmanager
def _fetch_errors(url: URL) -> Iterator[None]:
    """Network failures fetching a client URL are the client's problem: 400, not 502."""
    try:
        yield
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise _bad(f"could not fetch image from {url.host}: {type(exc).__name__}",
                   "image_fetch_failed") from exc


def _redirect_target(resp: aiohttp.ClientResponse, current: URL) -> URL | None:
    if resp.status not in _REDIRECTS:
        return None
    location = resp.headers.get("Location")
    if not location:
        raise _bad(f"image URL redirect ({resp.status}) without a Location",
                   "image_fetch_failed")
    return current.join(URL(location))


async def _read_image(resp: aiohttp.ClientResponse, url: URL, max_bytes: int) -> ImageInput:
    if resp.status != 200:
        raise _bad(f"image URL returned HTTP {resp.status}", "image_fetch_failed")
    declared = _declared_type(resp.headers.get("Content-Type", ""))
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise _too_large(max_bytes)
    data = bytearray()
    async for chunk in resp.content.iter_chunked(_READ_CHUNK):
        data += chunk
        if len(data) > max_bytes:
            raise _too_large(max_bytes)
    return _image(bytes(data), declared, url.name)


async def fetch_image(session: aiohttp.ClientSession, url: str, *, max_bytes: int,
                      allow_private: bool, timeout_s: float = 15,
                      resolve: Resolve | None = None) -> ImageInput:
    """Download a client's image URL within `timeout_s` in total, redirects included."""
    current: str | URL = url
    try:
        async with asyncio.timeout(timeout_s):
            for _ in range(MAX_REDIRECTS + 1):
                checked = await check_url(current, resolve=resolve, allow_private=allow_private)
                with _fetch_errors(checked):
                    async with session.get(checked, allow_redirects=False,
                                           headers={"Accept": "image/*"}) as resp:
                        target = _redirect_target(resp, checked)
                        if target is None:
                            return await _read_image(resp, checked, max_bytes)
                current = target
    except TimeoutError as exc:
        raise _bad(f"fetching the image took longer than {timeout_s:g}s",
                   "image_fetch_failed") from exc
    raise _bad(f"image URL redirected more than {MAX_REDIRECTS} times", "image_fetch_failed")
