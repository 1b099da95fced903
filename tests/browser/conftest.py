"""Browser fixtures: Debian's chromium (``/usr/bin/chromium``) driven by Playwright for Python.

No browser is downloaded (``playwright install`` is never run): the system
chromium is launched with ``executable_path``. Tests that use the ``browser``
or ``page`` fixture must carry the ``browser`` marker. Where chromium or the
``playwright`` package is missing they skip, unless
``MASHLINK_REQUIRE_SERVICES=1`` (CI sets it, and ``.ci/run`` installs
chromium), in which case they fail.

Each test gets a fresh browser context (no cookies, cache or storage from
another test); Playwright gives the browser itself a fresh temporary profile
(user-data dir) at every launch and removes it on close.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser.support import new_page
from tests.conftest import services_required

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("MASHLINK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # root in CI containers; the pages under test are our own
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no update checks, no safe-browsing lists, ...
    "--disable-component-update",
    "--disable-sync",
]


def _need_browser() -> None:
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    if problem is None and not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        problem = f"chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    if problem is None:
        return
    if services_required():
        pytest.fail(f"{problem} and MASHLINK_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless chromium for the session, with a fresh temporary profile."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context, closed after the test."""
    if request.node.get_closest_marker("browser") is None:
        pytest.fail("tests that use the browser must be marked @pytest.mark.browser", pytrace=False)
    tab = new_page(browser)
    try:
        yield tab
    finally:
        tab.context.close()
