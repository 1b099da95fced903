"""The workspace layout and macros in a real browser (Debian's chromium via Playwright).

One demo page (``examples/components.html``: layout, RAG table, error summary
with two field errors, summary list, notification banner, back link,
pagination) is served over HTTP on 127.0.0.1 and visited: accessible (axe,
WCAG 2.2 AA), nothing loaded from elsewhere, GOV.UK Frontend's CSS and JS
working under the Content-Security-Policy, usable without JavaScript and by
keyboard.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.browser.demo_app import ERRORS, HOSTILE_NAME, MAIN_LINKS, build_demo_app
from tests.browser.support import PageLog, assert_keyboard_reaches, axe_check, focused, new_page
from tests.hub.api_support import serve

pytestmark = pytest.mark.browser

BLACK = "rgb(11, 12, 12)"  # GOV.UK black, the header's background (GOV.UK brand blue after the rebrand)
BLUE = "rgb(29, 112, 184)"


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve(build_demo_app()) as client:
        yield str(client.base_url).rstrip("/")


def visit(page, url: str) -> PageLog:  # type: ignore[no-untyped-def]
    log = PageLog(page)
    page.goto(url, wait_until="networkidle")
    return log


@pytest.mark.parametrize("errors", [1, 0], ids=["with-errors", "without-errors"])
def test_no_serious_or_critical_accessibility_violations(page, site: str, errors: int) -> None:
    visit(page, f"{site}/demo?errors={errors}")
    results = axe_check(page)
    assert results["testEngine"]["version"] == "4.14.1"


def test_assets_load_from_the_app_and_nothing_leaves_loopback(page, site: str) -> None:
    log = visit(page, f"{site}/demo?errors=0")  # 200: with errors the page is a 400, which the console reports

    assert not log.off_host(), f"requests off 127.0.0.1: {log.off_host()}"
    assert not log.bad_responses and not log.failed, (log.bad_responses, log.failed)
    paths = {re.sub(r"^http://127\.0\.0\.1:\d+", "", url) for url in log.requests}
    assert {"/static/govuk/govuk-frontend.min.css", "/static/mashlink.css",
            "/static/govuk/govuk-frontend.min.js"} <= paths
    assert not any("/assets/" in p for p in paths), "no font or crown image is requested"
    assert not log.errors, log.errors
    assert not [line for line in log.console if line.startswith("error")], log.console

    header = page.evaluate("""() => { const s = getComputedStyle(document.querySelector('.govuk-header'));
                                      return [s.backgroundColor, s.color]; }""")
    assert header[0] in (BLACK, BLUE) and header[1] == "rgb(255, 255, 255)", header
    body_classes = page.evaluate("() => document.body.className").split()
    assert {"js-enabled", "govuk-frontend-supported"} <= set(body_classes)
    # initAll() ran: the service navigation module marked itself initialised.
    assert page.locator(".govuk-service-navigation[data-govuk-service-navigation-init]").count() == 1
    font = page.evaluate("() => getComputedStyle(document.querySelector('.govuk-body')).fontFamily")
    assert "GDS Transport" not in font and "arial" in font.lower(), font


def test_csp_is_sent_and_nothing_violates_it(page, site: str) -> None:
    log = PageLog(page)
    response = page.goto(f"{site}/demo", wait_until="networkidle")
    assert response is not None
    csp = response.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["cache-control"] == "no-store"
    assert page.evaluate("() => [...document.scripts].map(s => s.nonce)") == [nonce.group(1)] * 2
    assert log.csp_violations() == []

    # The detector is not blind: an inline script without the nonce is refused and reported.
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.__ran = 1'; document.body.append(s); }""")
    page.wait_for_timeout(100)
    assert page.evaluate("() => window.__ran") is None
    assert log.csp_violations(), "a refused inline script should be reported"


def test_data_is_escaped_in_the_page(page, site: str) -> None:
    visit(page, f"{site}/demo")
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("table.govuk-table").get_by_text(HOSTILE_NAME).count() == 1
    assert page.locator("#referrer-phone").input_value().startswith('"><script>')


def test_rag_rows_carry_words_not_only_colour(page, site: str) -> None:
    visit(page, f"{site}/demo")
    tags = page.locator("table.govuk-table tbody .govuk-tag")
    assert tags.all_inner_texts() == ["Red", "Amber", "Green"]
    colours = {t.evaluate("el => getComputedStyle(el).backgroundColor") for t in tags.all()}
    assert len(colours) == 3


def test_error_summary_lists_each_field_and_links_to_it(page, site: str) -> None:
    visit(page, f"{site}/demo")
    assert page.title().startswith("Error: ")
    summary = page.locator(".govuk-error-summary")
    assert page.evaluate("() => document.activeElement.classList.contains('govuk-error-summary')"), \
        "GOV.UK Frontend focuses the error summary on load"
    links = summary.locator("a")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [f"#{e['field']}" for e in ERRORS]
    for error in ERRORS:
        field = page.locator(f"#{error['field']}")
        assert error["field"] + "-error" in (field.get_attribute("aria-describedby") or "")
        assert error["text"] in page.locator(f"#{error['field']}-error").inner_text()
    links.nth(1).click()
    stop = focused(page)
    assert stop is not None and stop.id == ERRORS[1]["field"]


def test_page_is_readable_without_javascript(browser, site: str) -> None:
    page = new_page(browser, java_script_enabled=False)
    try:
        log = visit(page, f"{site}/demo")
        assert "js-enabled" not in (page.evaluate("() => document.body.className") or "")
        assert page.locator("h1").inner_text() == "Referral MASH-0001"
        assert page.locator(".govuk-error-summary").is_visible()
        assert page.locator("table.govuk-table tbody tr").count() == 3
        assert page.locator("table.govuk-table tbody .govuk-tag").all_inner_texts() == ["Red", "Amber", "Green"]
        assert page.locator(".govuk-service-navigation__link").first.is_visible()
        assert page.get_by_text("Sign out").is_visible()
        assert page.locator(".govuk-phase-banner").is_visible()
        header_bg = page.evaluate("() => getComputedStyle(document.querySelector('.govuk-header')).backgroundColor")
        assert header_bg in (BLACK, BLUE)
        assert not log.off_host() and not log.bad_responses
        assert "/static/govuk/govuk-frontend.min.js" not in " ".join(log.requests)
        assert log.csp_violations() == []
    finally:
        page.context.close()


def test_skip_link_is_first_tab_stop_and_moves_focus_to_main(page, site: str) -> None:
    visit(page, f"{site}/demo?errors=0")
    page.keyboard.press("Tab")
    first = focused(page)
    assert first is not None and first.href == "#main-content" and first.text == "Skip to main content"
    assert first.visible, "the skip link must show when focused"
    page.keyboard.press("Enter")
    now = focused(page)
    assert now is not None and now.id == "main-content"


def test_keyboard_reaches_every_main_link_with_visible_focus(page, site: str) -> None:
    visit(page, f"{site}/demo?errors=0")
    stops = assert_keyboard_reaches(page, MAIN_LINKS)
    assert stops[0].href == "#main-content"
