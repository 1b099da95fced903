"""Builder for children's social care: ``connector: cin`` and ``connector: ssda903``.

Called by :func:`mashlink.connectors.factory.build_connector`. What gets built
from :class:`~mashlink.connectors.social_care.options.SocialCareWiringOptions`:

* a :class:`SocialCareConnector` over its :class:`SocialCareIndex` (SQLite in
  the state directory), searching by trusted ids or demographics (Model 2);
* with ``inbox``, the ``social-care-ingest`` background service: every
  ``ingest_interval_s`` the extracts waiting in the inbox are loaded
  (:class:`InboxIngest`);
* with ``delivery`` (Model 3), the enquiry is also (or only, with
  ``search: false``) delivered into the social care team's own tool.
* always (unless ``events.enabled: false``), the ``agency-events`` service
  (:mod:`mashlink.connectors.events`): outcomes, decisions and escalations
  rendered for the team and delivered by ``options.events`` (a web hook or a
  drop folder; by default the way ``delivery`` goes, else a folder in the
  state directory), with a ``DeliveryReceipt`` back to the hub for each.

Why :class:`InboxIngest` and not ``SocialCareIndex.ingest_folder``: a running
service sees files while they are still being written. It skips temporary
and hidden names (``*.tmp``, ``*.part``, ``.name``) and waits until nothing
in the inbox changed for ``settle_s`` seconds, because an SSDA903 CSV set
arrives file by file and must be loaded as one set.
"""

from __future__ import annotations

import time
from pathlib import Path

import structlog

from ...config.errors import ConfigError, ConfigIssue
from ...config.settings import MashlinkSettings
from ..answer_builder import linked_people_for
from ..base import AgencyConnector
from ..files import FileRejection, is_partial, move_done, park_file
from ..delivery.options import parse_connector_options, resolve_path
from ..delivery.wiring import DeliveryWiring, PeriodicService, build_delivery, compose
from ..factory import BackgroundService, BuiltConnector, ConnectorContext
from .connector import SocialCareConnector
from .index import IngestResult, SocialCareIndex, sniff_format
from .options import SocialCareWiringOptions
from ...config.models import AgencyConfig
from ...schemas.codes import AgencyKind

log = structlog.get_logger(__name__)


class InboxIngest:
    """One pass over a social care inbox: complete, settled files only; each XML alone, CSVs as one set."""

    def __init__(self, index: SocialCareIndex, inbox: Path, *, settle_s: float = 5.0) -> None:
        self.index = index
        self.inbox = Path(inbox)
        self.settle_s = settle_s
        self.inbox.mkdir(parents=True, exist_ok=True)

    def ready(self) -> list[Path]:
        files = [p for p in self.inbox.iterdir() if p.is_file() and not is_partial(p)]
        if not files:
            return []
        try:
            newest = max(p.stat().st_mtime for p in files)
        except FileNotFoundError:  # a file moved while we looked: try again next pass
            return []
        if time.time() - newest < self.settle_s:
            return []
        return sorted(files)

    def run_once(self) -> list[IngestResult]:
        files = self.ready()
        processed = self.index.state_dir / "processed"
        rejected = self.index.state_dir / "rejected"
        csvs = [p for p in files if p.suffix.lower() == ".csv"]
        groups: list[tuple[list[Path], str | None]] = [([p], sniff_format(p)) for p in files if p not in csvs]
        if csvs:
            groups.append((csvs, "ssda903"))
        results: list[IngestResult] = []
        for paths, fmt in groups:
            if fmt is None:
                for p in paths:
                    park_file(p, rejected, FileRejection(rule="format_not_recognised",
                                                         detail="not a CIN census or SSDA903 extract"))
                results.append(IngestResult([p.name for p in paths], "unknown", moved_to=[str(rejected)]))
                continue
            result = self.index.ingest(paths, fmt, move_bad_to=rejected)
            if result.usable:
                for p in paths:
                    move_done(p, processed)
            results.append(result)
        if results:
            log.info("social_care.inbox_ingested", extracts=len(results),
                     accepted=sum(r.accepted for r in results), rejected=sum(r.rejected for r in results),
                     unusable=sum(not r.usable for r in results))
        return results


def social_care_options(settings: MashlinkSettings, agency: AgencyConfig, agency_index: int
                        ) -> SocialCareWiringOptions:
    return parse_connector_options(SocialCareWiringOptions, dict(agency.options), agency_index,
                                   file=settings.config_file)


def social_care_index(settings: MashlinkSettings, agency: AgencyConfig, agency_index: int,
                      options: SocialCareWiringOptions) -> tuple[SocialCareIndex, str]:
    la_code = options.la_code or settings.local_authority.code
    if not (len(la_code) == 3 and la_code.isdigit()):
        raise ConfigError([ConfigIssue(
            path=f"agencies[{agency_index}].options.la_code",
            rule=f"required: local_authority.code {la_code!r} is not a 3-digit DfE LA code, which scopes LA child "
                 "ids")], file=settings.config_file)
    index_dir = (resolve_path(settings.state_dir, options.index_dir) if options.index_dir
                 else settings.state_dir / f"connector-{agency.id}.social-care")
    # The agency's ``matching:`` thresholds, not the defaults (nor a policy left in an older index file).
    return SocialCareIndex(index_dir, la_code=la_code, policy=agency.matching), la_code


def build_social_care(ctx: ConnectorContext) -> BuiltConnector:
    """``connector: cin`` / ``ssda903``: index search with a background inbox ingest; optional Model 3."""
    options = social_care_options(ctx.settings, ctx.agency, ctx.agency_index)
    services: list[BackgroundService] = []
    parts: list[str] = []
    search: SocialCareConnector | None = None
    if options.delivery is None or options.delivery.search:
        index, la_code = social_care_index(ctx.settings, ctx.agency, ctx.agency_index, options)
        search = SocialCareConnector(ctx.agency.id, index, la_code=la_code, responder=options.responder,
                                     linked_people=linked_people_for(ctx.agency.connector, options.linked_people))
        parts.append(f"{ctx.agency.connector.upper()} index ({index.count()} record(s), LA {la_code})")
        if options.inbox is not None:
            inbox = InboxIngest(index, resolve_path(ctx.settings.state_dir, options.inbox), settle_s=options.settle_s)
            services.append(PeriodicService("social-care-ingest", inbox.run_once, options.ingest_interval_s))
            parts.append(f"inbox {inbox.inbox} every {options.ingest_interval_s:g} s")
    wiring: DeliveryWiring | None = None
    if options.delivery is not None:
        wiring = build_delivery(ctx, options.delivery, agency_kind=AgencyKind.SOCIAL_CARE,
                                organisation=options.la_code or ctx.settings.local_authority.code)
        services.extend(wiring.services)
        parts.append(wiring.description)
    connector: AgencyConnector = compose(ctx, search, wiring, agency_kind=AgencyKind.SOCIAL_CARE,
                                         responder=options.responder)
    _add_events(ctx, options, services, parts)
    return BuiltConnector(connector, services, "; ".join(parts))


def _add_events(ctx: ConnectorContext, options: SocialCareWiringOptions, services: list[BackgroundService], parts: list[str]) -> None:
    """The ``agency-events`` consumer: outcomes and escalations to the team's tool, with receipts."""
    from ..events.wiring import native_events

    service, description = native_events(ctx, options.events, options.delivery)
    if service is not None:
        services.append(service)
    parts.append(description)
