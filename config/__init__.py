"""mashlink settings: environment over YAML, agencies, sharing policy, RAG timescales, calendar.

Load settings once at start-up with ``load_settings()`` and pass them on;
there is no global settings object. Deadlines come from
``DeadlinePolicy.from_settings(settings)``.
"""

from .deadlines import DeadlinePolicy, DeadlineState
from .errors import ConfigError, ConfigIssue
from .models import (
    AgencyConfig,
    CalendarSettings,
    LocalAuthority,
    RagTimescale,
    RagTimescales,
    SharingPolicy,
)
from .settings import MashlinkSettings, default_config_path, load_settings
from .working_hours import WorkingCalendar

__all__ = [
    "AgencyConfig", "CalendarSettings", "ConfigError", "ConfigIssue", "DeadlinePolicy",
    "DeadlineState", "LocalAuthority", "MashlinkSettings", "RagTimescale", "RagTimescales",
    "SharingPolicy", "WorkingCalendar", "default_config_path", "load_settings",
]
