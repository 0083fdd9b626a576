"""A small Chrome DevTools Protocol client over aiohttp websockets, for browser tests.

No playwright/selenium: Debian's `chromium` is started headless with
`--remote-debugging-port=0`, the DevTools URL is read from its stderr, and commands go over
one websocket using flattened target sessions (`Target.attachToTarget(flatten=True)`).

    async with Browser.launch() as browser:
        page = await browser.new_page()
        await page.navigate("http://127.0.0.1:8080/dashboard")
        title = await page.evaluate("document.title")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
INSTALL_HINT = ("headless Chromium is required for browser tests: install it with "
                "`apt-get update && apt-get install -y chromium` (or set CHROMIUM_BIN, or "
                "ZPROXY_CHROMIUM as start.sh and start.bat do)")
_DEVTOOLS_RE = re.compile(rb"DevTools listening on (ws://\S+)")
Event = dict[str, Any]


class CDPError(RuntimeError):
    pass


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM_BIN") or os.environ.get("ZPROXY_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_args(binary: str, profile: str) -> list[str]:
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--disable-default-apps", "--disable-dev-shm-usage", "--mute-audio",
            "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-port=0",
            "about:blank"]


class Connection:
    """One DevTools websocket: numbered commands, and events fanned out to waiters."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: list[Callable[[Event], None]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = orjson.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(CDPError(str(data["error"])))
                    else:
                        future.set_result(data.get("result", {}))
                continue
            for listener in list(self._listeners):
                listener(data)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CDPError("DevTools connection closed"))

    async def send(self, method: str, params: dict[str, Any] | None = None, *,
                   session_id: str | None = None, timeout: float = 30) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        await self._ws.send_str(orjson.dumps(message).decode())
        return await asyncio.wait_for(future, timeout)

    def listen(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._ws.close()


class Page:
    """One tab, attached with a flattened session. Records every network request URL."""

    def __init__(self, connection: Connection, session_id: str) -> None:
        self._cdp = connection
        self.session_id = session_id
        self.requested_urls: list[str] = []
        self.console_errors: list[str] = []
        self._unlisten = connection.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.get("sessionId") != self.session_id:
            return
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requested_urls.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            self.console_errors.append(str(params.get("exceptionDetails", {})))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.console_errors.append(str(params.get("args")))

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._cdp.send(method, params, session_id=self.session_id)

    async def wait_event(self, method: str, action: Callable[[], Any],
                         timeout: float = 30) -> Event:
        """Run `action` (a coroutine factory) and wait for `method` on this page."""
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()

        def on_event(event: Event) -> None:
            if (event.get("sessionId") == self.session_id and event.get("method") == method
                    and not future.done()):
                future.set_result(event)

        unlisten = self._cdp.listen(on_event)
        try:
            await action()
            return await asyncio.wait_for(future, timeout)
        finally:
            unlisten()

    async def navigate(self, url: str) -> None:
        async def go() -> None:
            result = await self.send("Page.navigate", {"url": url})
            if result.get("errorText"):
                raise CDPError(f"navigation to {url} failed: {result['errorText']}")

        await self.wait_event("Page.loadEventFired", go)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 20) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {expression}")
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        result = await self.send("Page.captureScreenshot",
                                 {"format": "png", "captureBeyondViewport": True})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(result["data"]))

    def close(self) -> None:
        self._unlisten()


class Browser:
    def __init__(self, process: asyncio.subprocess.Process, profile: str,
                 http: aiohttp.ClientSession, connection: Connection,
                 stderr_task: asyncio.Task[None]) -> None:
        self._process = process
        self._profile = profile
        self._http = http
        self.cdp = connection
        self._stderr_task = stderr_task

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, binary: str | None = None,
                     startup_timeout: float = 30) -> AsyncIterator[Browser]:
        binary = binary or find_chromium()
        if binary is None:
            raise FileNotFoundError(INSTALL_HINT)
        profile = tempfile.mkdtemp(prefix="zproxy-chromium-")
        process = await asyncio.create_subprocess_exec(
            *chromium_args(binary, profile), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        http = aiohttp.ClientSession()
        browser: Browser | None = None
        try:
            assert process.stderr is not None
            ws_url = await asyncio.wait_for(_devtools_url(process.stderr), startup_timeout)
            stderr_task = asyncio.create_task(_drain(process.stderr))
            ws = await http.ws_connect(ws_url, max_msg_size=0)
            browser = cls(process, profile, http, Connection(ws), stderr_task)
            yield browser
        finally:
            if browser is not None:
                await browser._shutdown()
            await http.close()
            await _stop(process)
            shutil.rmtree(profile, ignore_errors=True)

    async def new_page(self, width: int = 1280, height: int = 1000) -> Page:
        target = await self.cdp.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.cdp.send("Target.attachToTarget",
                                       {"targetId": target["targetId"], "flatten": True})
        page = Page(self.cdp, attached["sessionId"])
        for domain in ("Page.enable", "Network.enable", "Runtime.enable"):
            await page.send(domain)
        await page.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        return page

    async def _shutdown(self) -> None:
        with contextlib.suppress(Exception):
            await self.cdp.send("Browser.close", timeout=5)
        await self.cdp.close()
        self._stderr_task.cancel()


async def _devtools_url(stderr: asyncio.StreamReader) -> str:
    seen: list[bytes] = []
    while line := await stderr.readline():
        seen.append(line)
        match = _DEVTOOLS_RE.search(line)
        if match:
            return match.group(1).decode()
    raise CDPError("chromium exited before DevTools was listening:\n"
                   + b"".join(seen[-20:]).decode(errors="replace"))


async def _drain(stderr: asyncio.StreamReader) -> None:
    while await stderr.readline():
        pass


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # our own child's session only
            await process.wait()
