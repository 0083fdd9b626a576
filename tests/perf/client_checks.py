"""What `bench_clients` checks of each candidate besides its cost, against a raw local probe.

`Probe` is a plain asyncio HTTP/1.1 server on loopback that records, per connection, the
request lines it got and how the connection ended, so the checks see the wire, not the
client's own account of itself:

- streaming: a `/slow` answer sends its first SSE frame and then holds the body open; the
  client must hand that frame over before the body ends (a read-all client never does).
- cancellation: the task reading that body is cancelled after the first chunk; the client
  must close that connection (the probe reads EOF within `CLOSE_WITHIN_S`), and the next
  request must arrive on another connection and succeed (a half-read one is never reused).
- proxy: a client built with the probe as its HTTP proxy asks for `http://zai.invalid/…`;
  the probe must see the absolute-form request line a forward proxy gets, and the client
  the answer. Loopback only: nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

from tests.perf.upstream_clients import Factory, Job, Upstream

CLOSE_WITHIN_S = 2.0
FIRST_CHUNK_WITHIN_S = 2.0
_FRAME = b'data: {"type":"chat:completion","data":{"delta_content":"hi","phase":"answer"}}\n\n'
_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@dataclass
class Connection:
    requests: list[str] = field(default_factory=list)
    ended: str = "open"  # "closed by client", "reused half-read", "left open", "answered"


class Probe:
    def __init__(self) -> None:
        self.connections: list[Connection] = []
        self.url = ""
        self._writers: list[asyncio.StreamWriter] = []

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Probe]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            yield self
        finally:
            server.close()
            for writer in self._writers:  # idle keep-alive connections end their handlers
                writer.close()
            await asyncio.sleep(0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection()
        self.connections.append(conn)
        self._writers.append(writer)
        try:
            while await self._answer(conn, reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            conn.ended = "closed by client" if conn.ended == "open" else conn.ended
        finally:
            writer.close()

    async def _answer(self, conn: Connection, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> bool:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        conn.requests.append(head.split("\r\n", 1)[0])
        length = next((int(line.split(":", 1)[1]) for line in head.split("\r\n")
                       if line.lower().startswith("content-length:")), 0)
        await reader.readexactly(length)
        if " /slow" in conn.requests[-1]:
            writer.write(_HEAD + _chunk(_FRAME))
            await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(65536), CLOSE_WITHIN_S)
            except TimeoutError:
                conn.ended = "left open"
                return False
            conn.ended = "closed by client" if not data else "reused half-read"
            return False
        writer.write(_HEAD + _chunk(_FRAME * 3 + b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()
        conn.ended = "answered"
        return True


async def _read_all(client: Upstream, job: Job, path: str) -> bytes:
    request = job.next()
    request = type(request)(request.url.with_path(path), request.static, request.dynamic,
                            request.body)
    data = b""
    async with aclosing(client.chunks(request)) as chunks:
        async for chunk in chunks:
            data += chunk
    return data


async def check_streaming_and_cancel(factory: Factory) -> tuple[str, str]:
    """(streaming verdict, cancellation verdict), each "yes" or what went wrong."""
    async with Probe().serving() as probe:
        job = Job(probe.url, "token", "user", 1)
        client = await factory(None, job.static)
        try:
            return await _streaming_and_cancel(client, job, probe)
        finally:
            await client.aclose()


async def _streaming_and_cancel(client: Upstream, job: Job, probe: Probe) -> tuple[str, str]:
    await _read_all(client, job, "/warm")  # a pooled idle connection the next may take
    first = asyncio.get_running_loop().create_future()

    async def reader() -> None:
        request = job.next()
        request = type(request)(request.url.with_path("/slow"), request.static,
                                request.dynamic, request.body)
        async with aclosing(client.chunks(request)) as chunks:
            async for chunk in chunks:
                if not first.done():
                    first.set_result(chunk)

    task = asyncio.create_task(reader())
    try:
        await asyncio.wait_for(asyncio.shield(first), FIRST_CHUNK_WITHIN_S)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        return "no: first frame not handed over", "untested"
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    slow = next(c for c in probe.connections if any(" /slow" in r for r in c.requests))
    for _ in range(int(CLOSE_WITHIN_S * 20) + 5):
        if slow.ended != "open":
            break
        await asyncio.sleep(0.05)
    after = await _read_all(client, job, "/after")
    if slow.ended != "closed by client":
        return "yes", f"no: cancelled connection {slow.ended}"
    if b"[DONE]" not in after or any(" /after" in r for r in slow.requests):
        return "yes", "no: next request failed or reused the half-read connection"
    return "yes", "yes"


async def check_proxy(factory: Factory) -> str:
    async with Probe().serving() as probe:
        job = Job("http://zai.invalid", "token", "user", 1)
        try:
            client = await factory(probe.url, job.static)
        except Exception as exc:  # the library refused the proxy setting
            return f"no: {type(exc).__name__}"
        try:
            data = await asyncio.wait_for(_read_all(client, job, "/proxied"), 10)
        except Exception as exc:
            return f"no: {type(exc).__name__}: {str(exc)[:60]}"
        finally:
            await client.aclose()
        lines = [r for c in probe.connections for r in c.requests]
        absolute = any(r.startswith("POST http://zai.invalid/proxied") for r in lines)
        if b"[DONE]" in data and absolute:
            return "yes"
        return f"no: probe saw {lines[:2]}"
