"""``mashlink social-care``: implemented in ``mashlink.connectors.social_care.commands``."""

from ...connectors.social_care.commands import register

__all__ = ["register"]
