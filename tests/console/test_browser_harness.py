# Owns the proof that the browser harness works on this machine: Debian's
# chromium, driven by Playwright, loads a page served on loopback, submits
# a form without JavaScript, and screenshots land as artifacts at both widths.
"""The headless browser itself."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import CHROMIUM_ARGS, screenshots

pytestmark = pytest.mark.browser

PAGE = b"""<!doctype html><html><head><meta name=viewport content="width=device-width">
<title>harness</title></head><body><h1>harness</h1>
<form method=post action=/done><input name=word value=monero><button>Send</button></form>
</body></html>"""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._reply(PAGE)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._reply(b"<!doctype html><p id=got>" + body + b"</p>")

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_debian_chromium_runs_headless(browser: Browser) -> None:
    assert browser.version.split(".")[0].isdigit()
    assert "--headless" in CHROMIUM_ARGS


def test_form_posts_without_javascript_and_screenshots_are_saved(
    browser: Browser, site: str
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page: Page = context.new_page()
    try:
        page.goto(site)
        shots = screenshots(page, "harness")
        page.click("text=Send")
        assert page.text_content("#got") == "word=monero"
    finally:
        context.close()
    assert [p.name for p in shots] == ["harness-laptop.png", "harness-phone.png"]
    for path in shots:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
