"""Simulated agency systems seeded with a synthetic population.

They stand in for the real agency systems so the enquiry loop runs end to
end: ``simulator_for(kind, population, agency_id)`` builds one agency's view.
"""

from __future__ import annotations

from .base import AgencySimulator, SimRecord, WorklistTask
from .education import build_education
from .health import build_health
from .police import build_police
from .population import Population, Scenario, generate_population
from .social_care import build_social_care
from ...schemas.codes import AgencyKind

_BUILDERS = {
    AgencyKind.POLICE: build_police,
    AgencyKind.HEALTH: build_health,
    AgencyKind.EDUCATION: build_education,
    AgencyKind.SOCIAL_CARE: build_social_care,
}


def simulator_for(kind: AgencyKind, population: Population, agency_id: str) -> AgencySimulator:
    """The simulated system of one agency kind, holding that agency's view of the population."""
    return _BUILDERS[AgencyKind(kind)](population, agency_id)


__all__ = [
    "AgencySimulator", "SimRecord", "WorklistTask", "Population", "Scenario", "generate_population",
    "simulator_for",
]
