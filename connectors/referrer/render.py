"""Render a referrer's message from the outcome type's template (configuration, not code).

The template context is built here from the :class:`Outcome` and the MASH's
contact details only, so a template cannot reach a child's name, date of
birth, identifier or another agency's findings: the Outcome does not carry
them and nothing else is passed. ``summary`` is left out too (free text).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

from ...config.referrer import MashContact
from ...schemas.decision import Outcome

LONDON = ZoneInfo("Europe/London")
SUBJECT_PREFIX = "Subject:"


class TemplateProblem(Exception):
    """A template is missing or broken: permanent (fix the configuration, then replay)."""


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str


def _long_date(moment: datetime) -> str:
    """``6 December 2026``: the outcome's date in Europe/London, as a letter would write it."""
    local = moment.astimezone(LONDON)
    return f"{local.day} {local:%B %Y}"


def outcome_label(value: str) -> str:
    return value.replace("_", " ")


class OutcomeRenderer:
    """``<templates_dir>/<outcome>.txt.j2``; first line ``Subject: ...``, then the body."""

    def __init__(self, templates_dir: Path, contact: MashContact, local_authority: str) -> None:
        if not templates_dir.is_dir():
            raise TemplateProblem(f"templates_dir {templates_dir} is not a folder")
        self.templates_dir = templates_dir
        self.contact = contact
        self.local_authority = local_authority
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates_dir)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain text; the web hook carries it as a JSON string
            keep_trailing_newline=False,
        )

    def context(self, outcome: Outcome) -> dict[str, object]:
        return {
            "referral_id": outcome.referral_id,
            "outcome": outcome.outcome.value,
            "outcome_label": outcome_label(outcome.outcome.value),
            "outcome_date": _long_date(outcome.sent_at),
            "referrer": outcome.recipient,
            "contact": self.contact.model_dump(),
            "local_authority": self.local_authority,
        }

    def check(self) -> list[str]:
        """The outcome types without a usable template (for start-up checks)."""
        from ...schemas.codes import OutcomeType

        missing: list[str] = []
        for value in OutcomeType:
            try:
                self.env.get_template(f"{value.value}.txt.j2")
            except jinja2.TemplateError:
                missing.append(value.value)
        return missing

    def render(self, outcome: Outcome) -> RenderedMessage:
        name = f"{outcome.outcome.value}.txt.j2"
        try:
            text = self.env.get_template(name).render(self.context(outcome))
        except jinja2.TemplateNotFound:
            raise TemplateProblem(f"no template {name} in templates_dir") from None
        except jinja2.TemplateError as exc:
            # Jinja messages name the template and the variable, never the values rendered.
            raise TemplateProblem(f"template {name}: {type(exc).__name__}: {str(exc)[:200]}") from None
        first, _, rest = text.lstrip("\n").partition("\n")
        if not first.startswith(SUBJECT_PREFIX) or not first[len(SUBJECT_PREFIX):].strip():
            raise TemplateProblem(f"template {name}: the first line must be 'Subject: ...'")
        subject = " ".join(first[len(SUBJECT_PREFIX):].split())
        return RenderedMessage(subject=subject, text=rest.strip("\n") + "\n")
