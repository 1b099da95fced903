"""Render an agency event from templates in configuration, per recipient kind.

Templates live under one folder (shipped: ``config/outcome_templates/agency``)::

    _shared/_layout.txt.j2        the letter: decision, what happens next, who to contact, what we ask
    _shared/<event>.txt.j2        outcome, decision, escalation, alert, withdrawal
    <kind>/<event>.txt.j2         health, police, education, social_care: what that kind is asked to do

``<kind>/<event>.txt.j2`` is used when present, else ``_shared/<event>.txt.j2``
(a decision uses the kind's outcome template before the shared one: the same
asks, with ``event`` set to ``decision``).
The first line is ``Subject: ...``. The context holds ids, codes, dates and
the MASH's contact details only (see :mod:`.decode`), so a template cannot
reach a child's details or another agency's findings.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

from ...config.referrer import MashContact
from .decode import AgencyEvent
from ..referrer.render import SUBJECT_PREFIX, RenderedMessage, TemplateProblem, outcome_label
from ...schemas.codes import AgencyKind

LONDON = ZoneInfo("Europe/London")
SHARED = "_shared"


def default_agency_templates_dir() -> Path:
    """The shipped agency templates (``config/outcome_templates/agency``), next to the config package."""
    from ... import config

    return Path(config.__file__).resolve().with_name("outcome_templates") / "agency"


def _long_date(moment: datetime) -> str:
    local = moment.astimezone(LONDON)
    return f"{local.day} {local:%B %Y}"


def _long_time(moment: datetime) -> str:
    local = moment.astimezone(LONDON)
    return f"{local:%H:%M} on {local.day} {local:%B %Y}"


class EventRenderer:
    def __init__(self, templates_dir: Path, kind: AgencyKind, contact: MashContact, local_authority: str) -> None:
        if not (templates_dir / SHARED).is_dir():
            raise TemplateProblem(f"templates_dir {templates_dir} has no {SHARED}/ folder")
        self.templates_dir = templates_dir
        self.kind = kind
        self.contact = contact
        self.local_authority = local_authority
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir)),
                                      undefined=jinja2.StrictUndefined, autoescape=False)

    def context(self, event: AgencyEvent) -> dict[str, object]:
        facts: dict[str, object] = {}
        for key, value in event.facts.items():
            if isinstance(value, datetime):
                facts[key] = _long_time(value) if key in ("due_at", "occurred_at") else _long_date(value)
            else:
                facts[key] = value
        if "outcome" in facts:
            facts["outcome_label"] = outcome_label(str(facts["outcome"]))
        if "alert_kind" in facts:
            facts["alert_label"] = outcome_label(str(facts["alert_kind"]))
        return {
            **facts,
            "event": event.kind, "referral_id": event.referral_id, "enquiry_id": event.enquiry_id or "",
            "agency_id": event.agency_id, "agency_kind": self.kind.value,
            "sent_date": _long_date(event.sent_at), "contact": self.contact.model_dump(),
            "local_authority": self.local_authority,
        }

    def names(self, event_kind: str) -> list[str]:
        """Templates tried in order; a decision reads like the kind's outcome (same asks) unless it has its own."""
        kind = self.kind.value
        if event_kind == "decision":
            return [f"{kind}/decision.txt.j2", f"{kind}/outcome.txt.j2", f"{SHARED}/decision.txt.j2"]
        return [f"{kind}/{event_kind}.txt.j2", f"{SHARED}/{event_kind}.txt.j2"]

    def check(self, event_kinds: tuple[str, ...]) -> list[str]:
        """Event kinds without a usable template (a start-up check)."""
        missing = []
        for kind in event_kinds:
            try:
                self.env.select_template(self.names(kind))
            except jinja2.TemplateError:
                missing.append(kind)
        return missing

    def render(self, event: AgencyEvent) -> RenderedMessage:
        names = self.names(event.kind)
        try:
            template = self.env.select_template(names)
            text = template.render(self.context(event))
        except jinja2.TemplatesNotFound:
            raise TemplateProblem(f"no template {' or '.join(names)} in templates_dir") from None
        except jinja2.TemplateError as exc:
            raise TemplateProblem(f"template for {event.kind}: {type(exc).__name__}: {str(exc)[:200]}") from None
        first, _, rest = text.lstrip("\n").partition("\n")
        if not first.startswith(SUBJECT_PREFIX) or not first[len(SUBJECT_PREFIX):].strip():
            raise TemplateProblem(f"template for {event.kind}: the first line must be 'Subject: ...'")
        return RenderedMessage(subject=" ".join(first[len(SUBJECT_PREFIX):].split()),
                               text=rest.strip("\n") + "\n")
