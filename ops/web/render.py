"""Server-rendered pages: one Jinja2 environment and ``render()``, which adds the security headers.

Pages are built on ``layout.html`` (the GOV.UK page template: skip link,
header with the service name and the signed-in user, service navigation, a
phase banner in development, ``<main id="main-content">``, footer) and the
macros in ``macros.html`` (RAG tag, summary list, table, error summary and
field errors, text input, notification banner, back link, pagination)::

    {% extends "layout.html" %}
    {% from "macros.html" import rag_tag, table %}
    {% block content %}
      <h1 class="govuk-heading-l">{{ page_title }}</h1>
      {{ table(head=["Child", "RAG"], rows=rows, caption="Open referrals") }}
    {% endblock %}

and, in a route::

    return render(request, "referrals.html", {"page_title": "Referrals", "rows": rows,
                                              "principal": principal, "navigation": NAV})

Every response carries a Content-Security-Policy that allows scripts only from
the app itself or with this response's nonce (``csp_nonce`` in the context; put
``nonce="{{ csp_nonce }}"`` on any inline ``<script>``), styles only from the
app (no ``style=`` attributes, no ``<style>``), and no framing;
``Cache-Control: no-store`` because pages carry personal data.

Templates autoescape everything and use ``StrictUndefined``: a misspelt
variable is an error, not an empty string. Optional layout variables are
given defaults here (see ``LAYOUT_DEFAULTS``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from .static_files import STATIC_PREFIX

SERVICE_NAME = "mashlink MASH workspace"

#: Layout variables a page may leave out (copied, so a page's list is never shared).
LAYOUT_DEFAULTS: Mapping[str, Any] = {
    "page_title": None,  # shown before the service name in <title>; "Error: " is prefixed when errors
    "principal": None,  # mashlink.hub.auth.principal.Principal: name, role and sign-out link in the header
    "sign_out_url": "/sign-out",
    "home_url": "/",
    "environment": None,  # "development" shows the synthetic-data phase banner
    "navigation": (),  # [{"text", "href", "current": bool}]: the service navigation
    "footer_links": (),  # [{"text", "href"}]
    "errors": (),  # [{"field": "field-id", "text": "..."}]: a form page's error summary
}


def content_security_policy(nonce: str) -> str:
    """The policy every page is sent with: own origin only, inline scripts by nonce, no framing."""
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self'; "
        "img-src 'self' data:; "
        "frame-ancestors 'none'; "
        "form-action 'self'; "
        "base-uri 'none'"
    )


def security_headers(nonce: str) -> dict[str, str]:
    """Headers for a page of personal data: CSP, no sniffing, no referrer, never cached."""
    return {
        "Content-Security-Policy": content_security_policy(nonce),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


@pass_context
def static_url(context: Context, path: str) -> str:
    """URL of a file under ``ops/static`` (``static_url('govuk/govuk-frontend.min.css')``), proxy-prefix aware."""
    request = context.get("request")
    root = str(request.scope.get("root_path", "")).rstrip("/") if request is not None else ""
    return f"{root}{STATIC_PREFIX}/{path.lstrip('/')}"


def build_environment() -> Environment:
    """The package templates, autoescaped, strict about undefined names."""
    env = Environment(
        loader=PackageLoader("mashlink.ops.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    env.globals["service_name"] = SERVICE_NAME
    return env


#: The one environment of the web app; pages and tests render through it.
templates = build_environment()


def render(request: Request, template_name: str, context: Mapping[str, Any] | None = None,
           status_code: int = 200) -> HTMLResponse:
    """Render ``template_name`` with ``context`` into a page with the security headers.

    ``request`` and a fresh ``csp_nonce`` are added to the context (a caller's
    own ``csp_nonce`` is kept), and the layout's optional variables default as
    in ``LAYOUT_DEFAULTS``.
    """
    values: dict[str, Any] = {name: (list(v) if isinstance(v, tuple) else v)
                              for name, v in LAYOUT_DEFAULTS.items()}
    values.update(context or {})
    values["request"] = request
    nonce = values.get("csp_nonce") or secrets.token_urlsafe(18)
    values["csp_nonce"] = nonce
    html = templates.get_template(template_name).render(values)
    return HTMLResponse(html, status_code=status_code, headers=security_headers(nonce))
