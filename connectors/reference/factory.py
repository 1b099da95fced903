"""Build a reference connector for a configured agency.

``AgencyConfig.options`` are validated as :class:`ReferenceOptions` (an
unknown option is an error naming it); the simulated population is
generated from ``population_seed`` so every process (hub demo, connectors,
tests) sees the same families.
"""

from __future__ import annotations

from typing import Any

from ...config.models import AgencyConfig
from .connector import ReferenceConnector, ReferenceOptions
from ..registry import reference_connector_class
from ..simulators import simulator_for
from ..simulators.population import Population, generate_population
from ...schemas.codes import AgencyKind


def reference_connector(
    agency_id: str,
    kind: AgencyKind | str,
    *,
    population: Population | None = None,
    options: ReferenceOptions | dict[str, Any] | None = None,
) -> ReferenceConnector:
    """A reference connector for one agency over its simulated system.

    Without ``population`` the simulated population is generated from the
    options' ``population_seed`` / ``population_as_of`` / ``population_fillers``. The class for
    ``kind`` is declared in ``config/connector_kinds.yaml`` (``agency_kinds.<kind>.reference``);
    LookupError for a kind with no simulated system.
    """
    opts = options if isinstance(options, ReferenceOptions) else ReferenceOptions.model_validate(options or {})
    kind = AgencyKind(kind)
    cls: type[ReferenceConnector] = reference_connector_class(kind)  # before the population: fail fast
    pop = population or generate_population(
        opts.population_seed, as_of=opts.population_as_of, fillers=opts.population_fillers
    )
    return cls(agency_id, simulator_for(kind, pop, agency_id), opts)


def connector_from_config(agency: AgencyConfig, *, population: Population | None = None) -> ReferenceConnector:
    """From a ``mashlink.config.models.AgencyConfig`` whose connector is ``reference``."""
    if agency.connector != "reference":
        raise ValueError(
            f"agency {agency.id!r} uses connector {agency.connector!r}; only 'reference' (simulated) exists so far"
        )
    return reference_connector(agency.id, agency.kind, population=population, options=dict(agency.options))
