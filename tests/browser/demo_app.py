"""A small app that renders one demo page through ``render()`` with the layout and every macro.

Used by the browser tests (served over real HTTP by ``tests.hub.api_support.serve``)
and the rendering unit tests. Its data carries markup (``<script>`` in a
child's name, quotes in a field value) so that escaping is tested wherever the
data lands: title, table cell, summary list, error message, input value.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from mashlink.config.security import Role
from mashlink.hub.auth.principal import Principal
from mashlink.ops.web.docs import mount_offline_docs
from mashlink.ops.web.render import render
from mashlink.ops.web.static_files import mount_static
from mashlink.schemas.codes import Rag

HOSTILE_NAME = "<script>window.__pwned = 1</script>Jo"
HOSTILE_VALUE = '"><script>window.__pwned = 2</script>'

PRINCIPAL = Principal(subject="u-1001", display_name="Sam Okafor", kind="person",
                      roles=frozenset({Role.PRACTITIONER}), issuer="https://idp.example.invalid")

NAVIGATION = [
    {"text": "Referrals", "href": "/demo", "current": True},
    {"text": "Enquiries", "href": "/enquiries"},
    {"text": "Audit", "href": "/audit"},
]
FOOTER_LINKS = [{"text": "Accessibility statement", "href": "/accessibility"},
                {"text": "Privacy notice", "href": "/privacy"}]

REFERRALS = [
    ("MASH-0001", HOSTILE_NAME, Rag.RED, 4),
    ("MASH-0002", "Alex Smith", Rag.AMBER, 24),
    ("MASH-0003", "Priya Shah", "green", 72),
]

#: Form errors: two fields, each listed in the summary and shown beside its field.
ERRORS = [
    {"field": "child-name", "text": "Enter the child's full name"},
    {"field": "referrer-phone", "text": "Enter a telephone number, like 01632 960 001"},
]

#: Every link the keyboard must reach on the page without errors.
MAIN_LINKS = ["#main-content", "/", "/sign-out", "/demo", "/enquiries", "/audit", "/referrals",
              "/referrals/MASH-0001", "?page=3", "/accessibility"]


def build_demo_app() -> FastAPI:
    app = FastAPI(title="workspace demo", docs_url=None, redoc_url=None)
    mount_offline_docs(app)  # Swagger UI's /static/swagger-ui must keep working beside mount_static
    mount_static(app)

    @app.get("/demo", response_class=HTMLResponse)
    def demo(request: Request, errors: int = 1) -> HTMLResponse:
        form_errors = ERRORS if errors else []
        return render(request, "examples/components.html", {
            "page_title": "Referral MASH-0001",
            "principal": PRINCIPAL,
            "environment": "development",
            "navigation": NAVIGATION,
            "footer_links": FOOTER_LINKS,
            "errors": form_errors,
            "referrals": REFERRALS,
            "child_name": HOSTILE_NAME,
            "phone": HOSTILE_VALUE,
        }, status_code=400 if form_errors else 200)

    return app
