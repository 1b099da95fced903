"""Simulated agency systems seeded with a synthetic population.

They stand in for the real agency systems so the enquiry loop runs end to
end: ``simulator_for(kind, population, agency_id)`` builds one agency's view.
"""

from __future__ import annotations

from .base import AgencySimulator, SimRecord, WorklistTask
from .population import Population, Scenario, generate_population
from ..registry import simulator_builder
from ...schemas.codes import AgencyKind


def simulator_for(kind: AgencyKind, population: Population, agency_id: str) -> AgencySimulator:
    """The simulated system of one agency kind, holding that agency's view of the population.

    Which builder is declared in ``config/connector_kinds.yaml`` (``agency_kinds.<kind>.simulator``);
    LookupError for a kind with no simulated system (``other``).
    """
    simulator: AgencySimulator = simulator_builder(kind)(population, agency_id)
    return simulator


__all__ = [
    "AgencySimulator", "SimRecord", "WorklistTask", "Population", "Scenario", "generate_population",
    "simulator_for",
]
