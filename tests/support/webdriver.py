"""A minimal WebDriver client (plain HTTP with httpx) for headless Debian Chromium."""

from __future__ import annotations

import base64
import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx

from tests.support.servers import free_port
from tests.support.waiting import wait_until

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            return f"{program} is not installed (Debian: apt-get install chromium chromium-driver)"
    return None


class Browser:
    """One WebDriver session."""

    def __init__(self, client: httpx.Client, session: str) -> None:
        self._client = client
        self._session = session

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, f"/session/{self._session}{path}", json=body)
        payload = response.json()
        if response.status_code != 200:
            raise RuntimeError(f"webdriver {method} {path}: {payload}")
        return payload["value"]

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def script(self, source: str, *args: Any) -> Any:
        return self._call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def wait_for(self, source: str, *args: Any, timeout: float = 30) -> Any:
        """Run ``source`` until it returns something truthy; return that."""
        return wait_until(lambda: self.script(source, *args), timeout, source, interval=0.2)

    def screenshot_png(self) -> bytes:
        return base64.b64decode(self._call("GET", "/screenshot"))

    def send_keys(self, css: str, text: str) -> None:
        """Type ``text`` into the element ``css`` selects, as a keyboard would (WebDriver
        key codes such as ``\ue007``, Enter, included)."""
        found = self._call("POST", "/element", {"using": "css selector", "value": css})
        element = next(iter(found.values()))
        self._call("POST", f"/element/{element}/value", {"text": text})

    def resize(self, width: int, height: int) -> None:
        """Size the window (the page's viewport follows)."""
        self._call("POST", "/window/rect", {"width": width, "height": height})

    def console_errors(self) -> list[str]:
        """The console's errors (uncaught exceptions and refused loads included) since the
        last call."""
        entries = self._call("POST", "/se/log", {"type": "browser"})
        return [entry["message"] for entry in entries if entry["level"] == "SEVERE"]


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium with a fresh profile, driven through chromedriver."""
    port = free_port()
    profile = tempfile.mkdtemp(prefix="kasparro-chromium-")
    driver = subprocess.Popen(
        ["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

            def ready() -> bool:
                try:
                    return bool(client.get("/status").json()["value"]["ready"])
                except httpx.TransportError:
                    return False

            wait_until(ready, 20, "chromedriver to start")
            options = {
                "binary": shutil.which("chromium"),
                "args": [*CHROMIUM_ARGS, f"--user-data-dir={profile}"],
            }
            capabilities = {
                "goog:chromeOptions": options,
                "goog:loggingPrefs": {"browser": "ALL"},
            }
            created = client.post(
                "/session", json={"capabilities": {"alwaysMatch": capabilities}}
            ).json()
            session = created["value"].get("sessionId")
            if not session:
                raise RuntimeError(f"chromium did not start: {created}")
            try:
                yield Browser(client, session)
            finally:
                client.delete(f"/session/{session}")
    finally:
        driver.terminate()
        driver.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
