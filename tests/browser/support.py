"""Helpers for browser tests: accessibility (axe-core), keyboard, and what a page asked the network for.

Importable without Playwright installed (the fixtures in conftest.py decide
whether browser tests skip or fail); only type hints name Playwright.

* ``axe_check(page)``: run the vendored axe-core against the page with the
  WCAG 2.2 AA rule tags; fail listing every serious or critical violation.
* ``tab_stops(page)`` / ``assert_keyboard_reaches(page, links)``: press Tab
  through the page, check every stop shows a visible focus indicator, and that
  the named links are reached.
* ``PageLog(page)``: records every request, failed or error response, console
  message, page error and CSP violation; requests to any host but the app's
  are aborted (and recorded) so a test can never leak off the machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, Route

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
#: WCAG 2.2 level A and AA success criteria, as axe-core tags its rules.
WCAG_TAGS: tuple[str, ...] = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
BLOCKING_IMPACTS: tuple[str, ...] = ("serious", "critical")
LOCAL_HOSTS = frozenset({"127.0.0.1"})


def new_page(browser: Browser, **context_options: Any) -> Page:
    """A page in a new, isolated context (``java_script_enabled=False`` and the like go to the context)."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(15_000)
    return context.new_page()


# --- accessibility -----------------------------------------------------------------------------

def axe_check(page: Page, *, tags: Sequence[str] = WCAG_TAGS,
              impacts: Sequence[str] = BLOCKING_IMPACTS) -> dict[str, Any]:
    """Run axe-core on ``page``; fail listing each violation of impact in ``impacts``; return the results.

    axe is evaluated through the DevTools protocol rather than added as a
    ``<script>`` element, so the page's Content-Security-Policy (which refuses
    inline scripts without its nonce) neither blocks it nor reports it.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    results: dict[str, Any] = page.evaluate(
        "options => window.axe.run(document, options)",
        {"runOnly": {"type": "tag", "values": list(tags)}, "resultTypes": ["violations"]},
    )
    blocking = [v for v in results["violations"] if v.get("impact") in impacts]
    if blocking:
        raise AssertionError(f"axe-core found {len(blocking)} {'/'.join(impacts)} violation(s) "
                             f"on {page.url}:\n{format_violations(blocking)}")
    return results


def format_violations(violations: Iterable[dict[str, Any]]) -> str:
    """One paragraph per rule: id, impact, help text and URL, then each offending node's selector."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} [{v.get('impact')}]: {v['help']} ({v.get('helpUrl', '')})")
        for node in v.get("nodes", []):
            target = " ".join(json.dumps(t) if not isinstance(t, str) else t for t in node.get("target", []))
            lines.append(f"    at {target}: {(node.get('failureSummary') or '').strip()}".replace("\n", " "))
    return "\n".join(lines)


# --- keyboard ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FocusStop:
    """Where one press of Tab put the focus, and whether the user can see it."""

    tag: str
    text: str
    href: str | None
    id: str
    focus_visible: bool  # matches :focus-visible
    indicator: bool  # a visible outline or box-shadow is drawn
    on_screen: bool  # has a size and is inside the viewport after focusing

    @property
    def visible(self) -> bool:
        return self.focus_visible and self.indicator and self.on_screen

    def __str__(self) -> str:
        target = self.href or (f"#{self.id}" if self.id else "")
        return f"<{self.tag}> {self.text!r} {target}".strip()


_ACTIVE_ELEMENT = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const s = getComputedStyle(el);
  const transparent = c => c === 'transparent' || /rgba\\(.*,\\s*0\\)$/.test(c);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0 && !transparent(s.outlineColor);
  const shadow = !!s.boxShadow && s.boxShadow !== 'none';
  const r = el.getBoundingClientRect();
  const onScreen = r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0
    && r.top < window.innerHeight && r.left < window.innerWidth;
  return {tag: el.tagName.toLowerCase(), text: (el.innerText || el.value || '').trim().replace(/\\s+/g, ' ').slice(0, 80),
          href: el.getAttribute('href'), id: el.id || '', focus_visible: el.matches(':focus-visible'),
          indicator: outline || shadow, on_screen: onScreen};
}"""


def focused(page: Page) -> FocusStop | None:
    """The element that has focus now (None for the document body)."""
    data = page.evaluate(_ACTIVE_ELEMENT)
    return FocusStop(**data) if data else None


def tab_stops(page: Page, *, max_stops: int = 100) -> list[FocusStop]:
    """Press Tab from the top of the page until focus leaves it (or ``max_stops``); every stop reached."""
    page.evaluate("() => { if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0); }")
    stops: list[FocusStop] = []
    for _ in range(max_stops):
        page.keyboard.press("Tab")
        stop = focused(page)
        if stop is None or (stops and stop == stops[0]):
            break
        stops.append(stop)
    return stops


def assert_keyboard_reaches(page: Page, links: Iterable[str], *, max_stops: int = 100) -> list[FocusStop]:
    """Tab through ``page``: every stop must show its focus, and each href in ``links`` must be reached."""
    stops = tab_stops(page, max_stops=max_stops)
    assert stops, f"no element of {page.url} takes keyboard focus"
    hidden = [str(s) for s in stops if not s.visible]
    assert not hidden, f"focus is not visible on: {hidden}"
    reached = {s.href for s in stops}
    missing = [href for href in links if href not in reached]
    assert not missing, f"Tab never reaches {missing}; stops: {[str(s) for s in stops]}"
    return stops


# --- network and console -----------------------------------------------------------------------

_CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(
  {directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile, line: e.lineNumber}));
"""


class PageLog:
    """What a page did: requests (off-host ones aborted), bad responses, console, errors, CSP violations.

    Create it before ``page.goto``. With JavaScript disabled the CSP listener
    cannot run; the console still carries Chromium's own CSP reports.
    """

    def __init__(self, page: Page, *, hosts: Iterable[str] = LOCAL_HOSTS) -> None:
        self.page = page
        self.hosts = frozenset(hosts)
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.bad_responses: list[str] = []  # of what the page loaded, not of the page
        self.failed: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        page.on("request", self._request)
        page.on("response", self._response)
        page.on("requestfailed", self._failed)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.context.route("**/*", self._guard)
        page.add_init_script(_CSP_LISTENER)

    def is_local(self, url: str) -> bool:
        parsed = urlparse(url)
        if parsed.scheme in ("data", "blob", "about"):
            return True
        return parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname in self.hosts

    def _guard(self, route: Route) -> None:
        if self.is_local(route.request.url):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _response(self, response: Response) -> None:
        # The page itself may answer 4xx on purpose (a form with errors); what it loads may not.
        if response.status >= 400 and response.request.resource_type != "document":
            self.bad_responses.append(f"{response.status} {response.url}")

    def _failed(self, request: Request) -> None:
        self.failed.append(f"{request.url}: {request.failure}")

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def off_host(self) -> list[str]:
        """Every URL the page asked for that is not on the app's host."""
        return [url for url in self.requests + self.blocked if not self.is_local(url)]

    def csp_violations(self) -> list[str]:
        """CSP violations from the page's event listener and from Chromium's console reports."""
        reported: list[dict[str, Any]] = []
        try:
            reported = self.page.evaluate("() => window.__cspViolations || []")
        except Exception:  # noqa: BLE001 - JavaScript disabled: the console lines below still count
            reported = []
        console = [line for line in self.console if "Content Security Policy" in line]
        return [json.dumps(v, sort_keys=True) for v in reported] + console
