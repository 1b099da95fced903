"""Builder for LA education services: ``connector: ctf``.

Called by :func:`mashlink.connectors.factory.build_connector`. What gets built
from :class:`~mashlink.connectors.education.options.CtfOptions`:

* an :class:`EducationConnector` over its :class:`PupilIndex` (SQLite in the
  state directory) searching by UPN or demographics (Model 2);
* with ``drop_folder``, the ``ctf-ingest`` background service: one ingest
  pass at start, then every ``ingest_interval_s`` (files placed while the
  connector runs are picked up; nothing is ever lost, see ``ingest.py``);
* with ``delivery`` (Model 3), the enquiry is also (or only, with
  ``search: false``) delivered into the education team's own tool.
* always (unless ``events.enabled: false``), the ``agency-events`` service
  (:mod:`mashlink.connectors.events`): outcomes, decisions and escalations
  rendered for the team and delivered by ``options.events`` (a web hook or a
  drop folder; by default the way ``delivery`` goes, else a folder in the
  state directory), with a ``DeliveryReceipt`` back to the hub for each.

:func:`education_from_settings` builds the same connector for the CLI
(``mashlink education ingest``) without a broker.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from ...config.errors import ConfigError, ConfigIssue
from ...config.settings import MashlinkSettings
from ..answer_builder import linked_people_for
from ..base import AgencyConnector
from ..delivery.options import parse_connector_options, resolve_path
from ..delivery.wiring import DeliveryWiring, PeriodicService, build_delivery, compose
from .connector import EducationConnector
from .formats import ctf_spec_path
from .index import PupilIndex
from .ingest import CtfIngest, IngestReport
from .options import CtfOptions
from ..factory import BackgroundService, BuiltConnector, ConnectorContext
from ...config.models import AgencyConfig
from ...mapping import load_spec
from ...mapping.errors import MappingEngineError
from ...schemas.codes import AgencyKind

log = structlog.get_logger(__name__)


def ctf_options(settings: MashlinkSettings, agency: AgencyConfig, agency_index: int) -> CtfOptions:
    return parse_connector_options(CtfOptions, dict(agency.options), agency_index, file=settings.config_file)


def education_connector(settings: MashlinkSettings, agency: AgencyConfig, agency_index: int, options: CtfOptions,
                        *, drop_folder: Path | None = None) -> EducationConnector:
    """The search connector over the agency's index (``drop_folder`` overrides the configured one)."""
    state_dir = settings.state_dir
    index_path = (resolve_path(state_dir, options.index_file) if options.index_file
                  else state_dir / f"connector-{agency.id}.ctf-index.sqlite3")
    index_path.parent.mkdir(parents=True, exist_ok=True)
    spec = resolve_path(state_dir, options.spec) if options.spec else ctf_spec_path()
    try:
        mapping = load_spec(spec)
    except (MappingEngineError, OSError) as exc:
        raise ConfigError([ConfigIssue(path=f"agencies[{agency_index}].options.spec",
                                       rule=f"cannot load mapping spec {spec}: {exc}")],
                          file=settings.config_file) from None
    folder = drop_folder or (resolve_path(state_dir, options.drop_folder) if options.drop_folder else None)
    # The agency's ``matching:`` thresholds, not the defaults (nor a policy left in an older index file).
    return EducationConnector(agency.id, PupilIndex(index_path, policy=agency.matching), mapping=mapping,
                              drop_folder=CtfIngest(folder) if folder else None, responder=options.responder,
                              ingest_on_enquiry=options.ingest_on_enquiry,
                              linked_people=linked_people_for(agency.connector, options.linked_people))


def education_from_settings(settings: MashlinkSettings, agency_id: str, *, drop_folder: Path | None = None
                            ) -> EducationConnector:
    """The configured ``ctf`` agency's search connector (CLI use: no broker, no services)."""
    index = next(i for i, a in enumerate(settings.agencies) if a.id == agency_id)
    agency = settings.agencies[index]
    return education_connector(settings, agency, index, ctf_options(settings, agency, index),
                               drop_folder=drop_folder)


def _log_report(agency_id: str, report: IngestReport) -> IngestReport:
    if report.files:
        log.info("education.drop_ingested", agency_id=agency_id, files=len(report.files), accepted=report.accepted,
                 rejected=report.rejected, failed_files=len(report.failed_files))
    return report


def build_ctf(ctx: ConnectorContext) -> BuiltConnector:
    """``connector: ctf``: pupil index search with a background drop-folder ingest; optional Model 3."""
    options = ctf_options(ctx.settings, ctx.agency, ctx.agency_index)
    services: list[BackgroundService] = []
    parts: list[str] = []
    search: EducationConnector | None = None
    if options.delivery is None or options.delivery.search:
        search = education_connector(ctx.settings, ctx.agency, ctx.agency_index, options)
        parts.append(f"CTF pupil index ({search.index.count()} pupil(s))")
        if search.drop_folder is not None:
            connector_ = search
            services.append(PeriodicService("ctf-ingest", lambda: _log_report(ctx.agency.id,
                                                                              connector_.ingest_pending()),
                                            options.ingest_interval_s))
            parts.append(f"drop folder {search.drop_folder.root} every {options.ingest_interval_s:g} s")
    wiring: DeliveryWiring | None = None
    if options.delivery is not None:
        wiring = build_delivery(ctx, options.delivery, agency_kind=AgencyKind.EDUCATION, organisation=options.la_code)
        services.extend(wiring.services)
        parts.append(wiring.description)
    connector: AgencyConnector = compose(ctx, search, wiring, agency_kind=AgencyKind.EDUCATION,
                                         responder=options.responder)
    _add_events(ctx, options, services, parts)
    return BuiltConnector(connector, services, "; ".join(parts))


def _add_events(ctx: ConnectorContext, options: CtfOptions, services: list[BackgroundService], parts: list[str]) -> None:
    """The ``agency-events`` consumer: outcomes and escalations to the team's tool, with receipts."""
    from ..events.wiring import native_events

    service, description = native_events(ctx, options.events, options.delivery)
    if service is not None:
        services.append(service)
    parts.append(description)
