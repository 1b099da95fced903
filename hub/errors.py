"""Errors the hub façade raises; the API maps them to 422 / 404 / 409."""

from __future__ import annotations

from collections.abc import Sequence


class HubError(Exception):
    """Base class of hub errors callers are expected to handle."""


class InvalidInput(HubError, ValueError):
    """Input that breaks a rule; ``problems`` name the field, the rule and the position."""

    def __init__(self, what: str, problems: Sequence[str]) -> None:
        self.what = what
        self.problems = list(problems)
        super().__init__(f"invalid {what}: " + "; ".join(self.problems))


class NotFound(HubError, LookupError):
    def __init__(self, what: str, ident: str) -> None:
        self.what = what
        self.ident = ident
        super().__init__(f"no {what} {ident!r}")


class Conflict(HubError):
    """The request contradicts the stored state (duplicate id, referral already decided ...)."""
