# Owns driving a real browser from pytest: Debian's chromium (installed by
# tools/install.sh), launched headless by Playwright's Python package with
# that executable (Playwright's own browser builds are never downloaded), and
# screenshots of a page at a laptop's and a phone's width saved as test
# artifacts (test-artifacts/screenshots/, or $LWS_TEST_ARTIFACTS). Must not
# know any page of lws: tests/console does.
"""Headless Chromium for the console's tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
#: Debian's chromium package installs its launcher here.
CHROMIUM = "/usr/bin/chromium"
#: Headless, no sandbox (tests run as root in CI), and nothing that reaches
#: the network on its own (component updates, sync, first-run pages).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
#: The widths every page is looked at: a laptop, and a phone (CSS pixels).
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"laptop": LAPTOP, "phone": PHONE}


def chromium_path() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        raise RuntimeError("Debian's chromium is not installed: run tools/install.sh")
    return found


def artifacts_dir() -> Path:
    where = Path(os.environ.get("LWS_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"
    where.mkdir(parents=True, exist_ok=True)
    return where


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium, headless, for as long as the block runs."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshots(page: Page, name: str) -> list[Path]:
    """The page as it is now, whole, at each width in VIEWPORTS; the paths
    (NAME-laptop.png, NAME-phone.png). The viewport is restored after."""
    before = page.viewport_size
    saved = []
    try:
        for width_name, size in VIEWPORTS.items():
            page.set_viewport_size(size)
            path = artifacts_dir() / f"{name}-{width_name}.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)
    finally:
        if before is not None:
            page.set_viewport_size(before)
    return saved


def overflows_horizontally(page: Page) -> bool:
    """Whether the page is wider than its viewport (a phone would scroll sideways)."""
    return bool(
        page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
    )
