"""Browser tests: Playwright driving the system Chromium against a live server.

Screenshots are saved under test-artifacts/screenshots/ for a person to look at.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

# Playwright's synchronous API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "install the Debian package chromium (make browser-deps does, as root)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()


class Visit:
    """A browser page that records every request, so a test can assert none left the host."""

    def __init__(
        self, browser: Browser, base_url: str, *, viewport: dict, javascript: bool = True, touch: bool = False
    ) -> None:
        self.base_url = base_url
        # `touch`: a phone's touch screen (no hover, a coarse pointer), as the phone's media queries see it.
        self.context = browser.new_context(
            viewport=viewport,
            java_script_enabled=javascript,
            locale="en-US",
            has_touch=touch,
            is_mobile=touch,
        )
        self.page: Page = self.context.new_page()
        self.requested: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda request: self.requested.append(request.url))
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def open(self, path: str = "/") -> Page:
        self.page.goto(self.base_url + path)
        return self.page

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def assert_no_request_left_the_host(self) -> None:
        host = urlsplit(self.base_url).netloc
        elsewhere = [
            url for url in self.requested if not url.startswith("data:") and urlsplit(url).netloc != host
        ]
        assert elsewhere == []
        assert self.requested, "the page made no request at all"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser: Browser, live_server) -> Iterator:
    opened: list[Visit] = []

    def make(*, viewport: dict = DESKTOP, javascript: bool = True, touch: bool = False) -> Visit:
        opened.append(Visit(browser, live_server.url, viewport=viewport, javascript=javascript, touch=touch))
        return opened[-1]

    yield make
    for one in opened:
        one.assert_no_request_left_the_host()
        one.close()
