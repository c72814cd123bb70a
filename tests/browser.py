"""Headless Chromium for tests: pages opened, console errors and requests collected, screenshots
kept as artifacts.

tests/conftest.py registers this module as a plugin, so every test can take the
``browser`` fixture, one Chromium per module (importing the fixture into a test module as
well would define it twice)::

    def test_page(browser, tmp_path):
        with browser.open("file:///.../page.html") as view:
            assert view.page.locator("h1").inner_text() == "..."
            view.screenshot("my-page")
        assert view.console_errors == []

- :func:`browser` (session fixture): one :class:`Chromium` for the whole run, started on first use
  and stopped at the end; tests are skipped with an install hint when Chromium or Playwright is
  missing (on CI that is an error: see ``tests/conftest.py``).
- :class:`Chromium`: Debian's ``chromium`` started here as a child process with its own new,
  empty profile directory and the flags this machine needs, driven by Playwright over the
  DevTools protocol, and stopped by its pid (terminate, then kill), never by name.
- :class:`PageView`: one page; ``console_errors`` (console errors and uncaught exceptions),
  ``requests`` (every URL asked for) and ``blocked`` (non-``file:``/``data:`` URLs, refused).

Screenshots go to ``$SKEWLESS_ARTIFACTS`` or else ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

__all__ = [
    "CHROMIUM_FLAGS",
    "Chromium",
    "PageView",
    "artifacts_dir",
    "browser",
    "find_chromium",
]

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
INSTALL_HINT = (
    "install Debian's chromium with `apt-get install -y chromium` and the driver with "
    "`pip install playwright` (scripts/test.sh does both; set SKEWLESS_CHROMIUM for another path)"
)
# Without the background-networking flags Chromium keeps dialling out, which a closed network
# refuses; --disable-quic and a fresh profile keep every run the same.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
_DEVTOOLS = re.compile(r"DevTools listening on (ws://\S+)")
_LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def find_chromium() -> str | None:
    """Chromium's program: ``$SKEWLESS_CHROMIUM``, else ``/usr/bin/chromium`` or ``chromium``."""
    configured = os.environ.get("SKEWLESS_CHROMIUM")
    if configured:
        return configured
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")


def artifacts_dir() -> Path:
    """Where screenshots are kept: ``$SKEWLESS_ARTIFACTS`` or ``tests/artifacts/``; created."""
    target = Path(os.environ.get("SKEWLESS_ARTIFACTS") or Path(__file__).parent / "artifacts")
    target.mkdir(parents=True, exist_ok=True)
    return target


@dataclass
class PageView:
    """One open page and what happened on it."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        """Save a PNG named ``name`` under :func:`artifacts_dir`; its path."""
        path = artifacts_dir() / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


class Chromium:
    """Headless Chromium, started by this object and stopped by its pid.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, program: str | None = None) -> None:
        self.program = program or find_chromium() or "chromium"
        self._process: subprocess.Popen[str] | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._playwright: Any = None
        self._browser: Any = None
        self._stderr: list[str] = []

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> Chromium:
        from playwright.sync_api import sync_playwright

        self._profile = tempfile.TemporaryDirectory(prefix="skewless-chromium-")
        self._process = subprocess.Popen(
            [self.program, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: helpers are ended with it
        )
        try:
            endpoint = self._wait_for_devtools()
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.connect_over_cdp(endpoint)
        except BaseException:
            self.stop()  # never leave a started Chromium behind
            raise
        return self

    def _wait_for_devtools(self) -> str:
        assert self._process is not None and self._process.stderr is not None
        found: list[str] = []
        ready = threading.Event()
        stream = self._process.stderr

        def read() -> None:
            for line in stream:
                self._stderr.append(line)
                match = _DEVTOOLS.search(line)
                if match and not found:
                    found.append(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, name="chromium-stderr", daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or not found:
            tail = "".join(self._stderr[-20:])
            self.stop()
            raise RuntimeError(f"{self.program} did not start in {START_TIMEOUT_S:.0f} s:\n{tail}")
        return found[0]

    @contextlib.contextmanager
    def open(
        self,
        url: str,
        *,
        width: int = 1200,
        height: int = 900,
        javascript: bool = True,
        allow: tuple[str, ...] = (),
    ) -> Iterator[PageView]:
        """A new page (in a fresh context) at ``url``, loaded; closed when the block ends.

        ``javascript=False`` opens it as a reader with scripts off would see it.

        Requests for anything but ``file:``, ``data:``, ``about:`` and ``blob:`` URLs (and
        URLs starting with one of ``allow``, e.g. a server under test) are refused and listed
        in ``blocked``, so a page that needs the network shows it.
        """
        if self._browser is None:
            raise RuntimeError("Chromium is not started: call start() or use it as a context")
        context = self._browser.new_context(
            viewport={"width": width, "height": height}, java_script_enabled=javascript
        )
        page = context.new_page()
        view = PageView(page)
        page.on("console", lambda msg: _console(view, msg))
        page.on("pageerror", lambda error: view.console_errors.append(f"pageerror: {error}"))
        page.on("request", lambda request: view.requests.append(request.url))

        def route(route: Any) -> None:
            if route.request.url.startswith(_LOCAL_SCHEMES + allow):
                route.continue_()
            else:
                view.blocked.append(route.request.url)
                route.abort()

        context.route("**/*", route)
        try:
            page.goto(url, wait_until="load")
            yield view
        finally:
            context.close()

    def stop(self) -> None:
        """Close the driver, then end Chromium by its pid and remove its profile."""
        with contextlib.suppress(Exception):
            if self._browser is not None:
                self._browser.close()
        with contextlib.suppress(Exception):
            if self._playwright is not None:
                self._playwright.stop()
        self._browser = self._playwright = None
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # renderers left behind, if any
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    def __enter__(self) -> Chromium:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _console(view: PageView, message: Any) -> None:
    if message.type == "error":
        view.console_errors.append(f"console: {message.text}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    """One headless Chromium per test module (skips with an install hint if missing). Not
    for the whole session: while Playwright's synchronous driver runs, the thread counts as
    inside an event loop, and tests of other modules call ``asyncio.run``."""
    program = find_chromium()
    if program is None or (not Path(program).exists() and shutil.which(program) is None):
        pytest.skip(f"Chromium not found: {INSTALL_HINT}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip(f"Playwright not installed: {INSTALL_HINT}")
    with Chromium(program) as chromium:
        yield chromium
