"""Reference connectors: one per agency kind, answering from simulated agency systems."""

from .agencies import (
    EducationReferenceConnector,
    HealthReferenceConnector,
    SocialCareReferenceConnector,
)
from .connector import ReferenceConnector, ReferenceOptions
from .factory import connector_from_config, reference_connector
from .police import PoliceReferenceConnector, withhold_dnd

__all__ = [
    "ReferenceConnector", "ReferenceOptions", "PoliceReferenceConnector", "HealthReferenceConnector",
    "EducationReferenceConnector", "SocialCareReferenceConnector", "reference_connector",
    "connector_from_config", "withhold_dnd",
]
