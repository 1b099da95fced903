"""Structured logging: a structlog pipeline that never writes personal data.

Logs leave the secure boundary (log shippers, ops screens), so at INFO and
above only ids, counts and codes are allowed. The ``redact_personal_data``
processor removes any key that looks like personal data, whatever the caller
passed, as a last line of defence.

It lives in config/, the lowest layer every process entry point shares, so the
command line (ops/) and the benchmarks (bench/) configure logs the same way
without one importing the other.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, MutableMapping

import structlog

PERSONAL_KEYS = frozenset(
    {
        "name", "names", "given", "family", "given_name", "family_name", "full_name",
        "dob", "birth_date", "date_of_birth", "address", "addresses", "postcode",
        "nhs_number", "upn", "identifier", "identifiers", "narrative", "summary",
        "text", "body", "phone", "email", "free_text", "subjects", "person",
    }
)


def redact_personal_data(
    _logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace values of personal-data keys; DEBUG keeps them only when asked explicitly."""
    for key in list(event_dict):
        if key.lower() in PERSONAL_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def _current_stderr(*_args: Any) -> structlog.PrintLogger:
    """A logger on whatever ``sys.stderr`` is now, not the stream at configure time.

    A process that swaps stderr (a test runner capturing output, an embedding
    application) would otherwise leave every later log call writing to a
    closed stream and raising.
    """
    return structlog.PrintLogger(file=sys.stderr)


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    """Configure structlog once per process (called by the CLI entry points)."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_current_stderr,
        cache_logger_on_first_use=False,
    )
