"""Reference connectors: one per agency kind, answering from simulated agency systems."""

from mashlink.connectors.reference.agencies import (
    EducationReferenceConnector,
    HealthReferenceConnector,
    SocialCareReferenceConnector,
)
from mashlink.connectors.reference.connector import ReferenceConnector, ReferenceOptions
from mashlink.connectors.reference.factory import connector_from_config, reference_connector
from mashlink.connectors.reference.police import PoliceReferenceConnector, withhold_dnd

__all__ = [
    "ReferenceConnector", "ReferenceOptions", "PoliceReferenceConnector", "HealthReferenceConnector",
    "EducationReferenceConnector", "SocialCareReferenceConnector", "reference_connector",
    "connector_from_config", "withhold_dnd",
]
