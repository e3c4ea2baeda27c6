"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``,
no port, no extra package): load a page, collect its console errors, exceptions and network
requests, run script in it, take a screenshot."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]
SILENCE_S = 120
"""The browser answers every command; this long without a byte means it hung."""


@dataclass
class Loaded:
    """What loading a page produced."""

    errors: list[str] = field(default_factory=list)
    """Console errors, uncaught exceptions and error log entries (CSP violations land here)."""
    requests: list[str] = field(default_factory=list)
    """Every URL the page asked for (the page itself first)."""


class Chromium:
    def __init__(self) -> None:
        assert CHROMIUM is not None
        self._profile = tempfile.TemporaryDirectory()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the browser reads commands on fd 3 and writes on fd 4; bash puts them there
        cmd_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 100)
        out_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 100)
        os.close(to_browser_r)
        os.close(from_browser_w)
        argv = [CHROMIUM, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe", "about:blank"]
        script = "exec " + shlex.join(argv) + f" 3<&{cmd_r} 4>&{out_w} {cmd_r}<&- {out_w}>&-"
        self._proc = subprocess.Popen(
            ["bash", "-c", script],
            pass_fds=(cmd_r, out_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(out_w)
        self._buf = b""
        self._next = 0
        self._events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.page(f"{domain}.enable")

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType] | None) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (AssertionError, OSError):
            self._proc.kill()
        self._proc.wait(timeout=60)
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._from_browser], [], [], SILENCE_S)
            assert ready, f"chromium sent nothing for {SILENCE_S} s"
            chunk = os.read(self._from_browser, 1 << 20)
            assert chunk, "chromium closed its end of the pipe"
            self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        data: dict[str, Any] = json.loads(message)
        return data

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                assert "error" not in reply, reply
                result: dict[str, Any] = reply["result"]
                return result
            self._events.append(reply)

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.send(method, self._session, **params)

    def _wait(self, method: str) -> dict[str, Any]:
        for i, event in enumerate(self._events):
            if event.get("method") == method:
                return self._events.pop(i)
        while True:
            event = self._read()
            if event.get("method") == method:
                return event
            self._events.append(event)

    def load(self, path: Path, *, width: int = 1280, height: int = 900) -> Loaded:
        """Open ``path`` and wait for its load event; what it logged and requested so far."""
        self._events.clear()
        self.page("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.page("Page.navigate", url=path.as_uri())
        self._wait("Page.loadEventFired")
        self.eval("1")  # a round trip: events logged during load have arrived
        return self.loaded()

    def reloaded(self) -> Loaded:
        """Wait for the page's next load event (it reloaded itself)."""
        self._wait("Page.loadEventFired")
        self.eval("1")
        return self.loaded()

    def loaded(self) -> Loaded:
        out = Loaded()
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.errors.append(json.dumps(params.get("args", []))[:500])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                out.errors.append(params["entry"].get("text", "")[:500])
            elif method == "Network.requestWillBeSent":
                out.requests.append(params["request"]["url"])
        return out

    def eval(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def type_into(self, selector: str, text: str) -> None:
        """Focus the element and type ``text`` as a user would (real input events)."""
        self.eval(f"document.querySelector({json.dumps(selector)}).focus()")
        self.page("Input.insertText", text=text)

    def screenshot(self, path: Path, *, full_page: bool = False) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.page("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000), "scale": 1}
        data = base64.b64decode(self.page("Page.captureScreenshot", **params)["data"])
        path.write_bytes(data)
        return data
