"""The connector registry: builds an agency's channel from ``AgencyConfig`` and the one declaration.

Every connector kind is declared once, in ``config/connector_kinds.yaml``
(read by :mod:`mashlink.config.connector_kinds`): the agency kinds it serves,
its builder, its options model, its formats for ``mashlink translate``, its
mapping specs and how its agency hears of outcomes. This module turns those
declarations into code: it is the only place that imports a builder, an
options model, a format registration or a simulated system by name. Paths are
imported when used, so the CLI stays fast and a police deployment never
imports FHIR code.

A connector that is not declared is a plugin path ``package.module:factory``
(checked by ``AgencyConfig``); its factory gets the same ``ConnectorContext``
and may return a ``BuiltConnector`` or a bare ``AgencyConnector``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..config.connector_kinds import ConnectorKind, connector_kinds
from ..config.errors import ConfigError, ConfigIssue
from ..schemas.codes import AgencyKind

if TYPE_CHECKING:
    from ..config.settings import MashlinkSettings
    from ..mapping.formats import FormatRegistry
    from .factory import BuiltConnector, ConnectorContext


def load_target(path: str) -> Any:
    """The object a ``package.module:attribute`` path names (ImportError/AttributeError if it is not there)."""
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def declared(name: str) -> ConnectorKind | None:
    """The declaration of connector kind ``name``; None for a plugin path or an unknown name."""
    return connector_kinds().connectors.get(name)


#: Declared connector names -> builder paths.
BUILTIN_BUILDERS: Mapping[str, str] = MappingProxyType(
    {name: kind.builder for name, kind in connector_kinds().connectors.items()})

#: Declared connector names -> pydantic model of their options, for checking without building.
OPTION_MODELS: Mapping[str, str] = MappingProxyType(
    {name: kind.options for name, kind in connector_kinds().connectors.items() if kind.options})


def build_channel(ctx: "ConnectorContext", builders: Mapping[str, str] = BUILTIN_BUILDERS) -> "BuiltConnector":
    """The connector and services for ``ctx.agency`` (the ``reference`` one when ``ctx.simulated``).

    Raises ``ConfigError`` for bad options, ``ConnectorUnavailable`` when the
    connector kind has no builder here, a plugin cannot be imported, or (with
    ``--simulated``) the agency kind has no simulated system.
    """
    # factory imports this module for its tables; its types are needed only once a channel is built.
    from .base import AgencyConnector
    from .factory import BuiltConnector, ConnectorUnavailable

    name = "reference" if ctx.simulated else ctx.agency.connector
    where = f"agencies[{ctx.agency_index}].connector"
    if ctx.simulated and connector_kinds().agency_kinds[ctx.agency.kind].simulator is None:
        raise ConnectorUnavailable(f"agencies[{ctx.agency_index}].kind: there is no simulated "
                                   f"{ctx.agency.kind.value} agency system; run without --simulated")
    target = builders.get(name)
    if target is None:
        if ":" not in name:
            raise ConnectorUnavailable(
                f"{where}: connector {name!r} is not available in this installation yet "
                f"(available: {', '.join(sorted(builders))}); run with --simulated to answer from the "
                "simulated agency system")
        target = name
    try:
        builder = load_target(target)
    except (ImportError, AttributeError) as exc:
        raise ConnectorUnavailable(f"{where}: cannot load connector factory {target!r}: {exc}") from None
    built = builder(ctx)
    if isinstance(built, BuiltConnector):
        return built
    if isinstance(built, AgencyConnector):
        return BuiltConnector(built, description=name)
    raise ConnectorUnavailable(f"{where}: factory {target!r} returned {type(built).__name__}, "
                               "not an AgencyConnector or BuiltConnector")


def options_issues(settings: "MashlinkSettings") -> list[ConfigIssue]:
    """Problems in the ``options`` of every agency whose connector declares an options model.

    For ``mashlink config check``: validates shape only (no secrets read, no connections,
    no files looked at). Each issue names ``agencies[i].options.<field>`` and, when the
    value is in the YAML file, its line. A release policy (``options.linked_people``) beyond
    what the agency's kind allows (``agency_kinds.<kind>.linked_people_most``; police: never
    ``full``) is refused whatever the connector.
    """
    from .delivery.options import parse_connector_options

    issues: list[ConfigIssue] = []
    for i, agency in enumerate(settings.agencies):
        path = OPTION_MODELS.get(agency.connector)
        if path is None:
            continue
        try:
            parsed = parse_connector_options(load_target(path), dict(agency.options), i, file=settings.config_file)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        policy = getattr(parsed, "linked_people", None)
        problem = connector_kinds().linked_people_problem(agency.kind, policy) if policy is not None else None
        if problem:
            issues.append(ConfigIssue(path=f"agencies[{i}].options.linked_people", rule=problem))
    return issues


def register_formats(registry: "FormatRegistry") -> None:
    """Entry point of ``mashlink.formats``: every declared connector's formats, each registration once."""
    seen: set[str] = set()
    for kind in connector_kinds().connectors.values():
        if kind.formats and kind.formats not in seen:
            seen.add(kind.formats)
            load_target(kind.formats)(registry)


def simulator_builder(kind: AgencyKind | str) -> Callable[..., Any]:
    """The builder of ``kind``'s simulated agency system; LookupError when the kind has none."""
    path = connector_kinds().agency_kinds[AgencyKind(kind)].simulator
    if path is None:
        raise LookupError(f"there is no simulated {AgencyKind(kind).value} agency system")
    return load_target(path)


def reference_connector_class(kind: AgencyKind | str) -> type[Any]:
    """The ``ReferenceConnector`` class answering for ``kind`` from its simulated system; LookupError when none."""
    path = connector_kinds().agency_kinds[AgencyKind(kind)].reference
    if path is None:
        raise LookupError(f"there is no simulated {AgencyKind(kind).value} agency system")
    return load_target(path)
