"""Builder for police agencies: ``connector: pole``.

Called by :func:`mashlink.connectors.factory.build_connector`. What gets built
from :class:`~mashlink.connectors.police.options.PoleOptions`:

* a :class:`PoleSource` that lists the configured export files and loads
  them into a :class:`PoleStore`;
* a :class:`ReloadingPoliceConnector`: a :class:`PoliceConnector` over the
  current store, replaced by a new one when the exports change (checked on
  each enquiry, or by the ``pole-reload`` background service on an interval);
* with ``delivery`` (Model 3), the police connector's own delivery step plus
  the answer endpoint / inbox service; answers from the team's tool go
  through the same handling-code release rules as search results (DND never
  leaves). With ``delivery.search: false`` the enquiry is delivered only.
* a :class:`~mashlink.connectors.police.watch.DaAlertWatcher`: children the
  connector confirmed in an answer are watched; a reload bringing a new
  domestic-abuse occurrence in a watched child's household publishes one
  ``Alert`` to the hub (state in ``connector-<id>.police-watch.sqlite``); the
  referral's outcome or decision, a local effect of the events consumer, ends
  the watch;
* always (unless ``events.enabled: false``), the ``agency-events`` service
  (:mod:`mashlink.connectors.events`): outcomes, decisions and escalations
  rendered for the team and delivered by ``options.events`` (a web hook or a
  drop folder; by default the way ``delivery`` goes, else a folder in the
  state directory), with a ``DeliveryReceipt`` back to the hub for each.

A reload that finds unreadable files or no usable record keeps the previous
store (an export half copied in place must not blank the force's answers) and
is not retried until the files change again. At start-up, no export file or
no usable record stops the process: a police connector answering "not known"
from an empty store would hide risk.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from ...config.errors import ConfigError, ConfigIssue
from ...config.matching import MatchPolicy
from ..base import AgencyConnector
from ...config.atomic_files import is_temporary
from ..delivery.connector import Model3Delivery
from ..delivery.options import parse_connector_options, resolve_path
from ..delivery.wiring import DeliveryWiring, PeriodicService, build_delivery, compose
from ..factory import BackgroundService, BuiltConnector, ConnectorContext
from .connector import PoliceConnector, PoliceOptions
from .options import PoleOptions
from .referrals import CctnForwarder, CctnReferralBuilder
from ..referral_sender import BrokerReferralSink
from .release import release_findings
from .store import PoleStore
from .watch import DaAlertWatcher, PoliceWatchState, ReferralClosedEffect
from ...mapping import CompiledMapping, load_spec
from .formats import pole_spec_path
from ...schemas.codes import AgencyKind
from ...schemas.enquiry import Enquiry, EnquiryResponse

if TYPE_CHECKING:
    from ..events.consumer import LocalEffect

log = structlog.get_logger(__name__)
_EXPORT_SUFFIXES = (".json", ".csv")

Fingerprint = tuple[tuple[str, int, int], ...]


class PoleSource:
    """The configured export paths: which files they hold now, and a fingerprint that changes with them."""

    def __init__(self, paths: list[Path], mapping: CompiledMapping | None = None, *,
                 policy: MatchPolicy | None = None) -> None:
        self.paths = paths
        self.mapping = mapping or load_spec(pole_spec_path())
        #: The agency's ``matching:`` thresholds, kept so every reload's store searches under them too.
        self.policy = policy

    def files(self) -> list[Path]:
        out: list[Path] = []
        for path in self.paths:
            if path.is_dir():
                out.extend(sorted(p for p in path.iterdir()
                                  if p.is_file() and p.suffix.lower() in _EXPORT_SUFFIXES and not is_temporary(p)))
            elif path.is_file():
                out.append(path)
        return out

    def fingerprint(self) -> Fingerprint:
        prints = []
        for f in self.files():
            try:
                st = f.stat()
            except FileNotFoundError:  # replaced between listing and stat: the next check sees it
                continue
            prints.append((str(f), st.st_mtime_ns, st.st_size))
        return tuple(prints)

    def load(self) -> tuple[PoleStore, Fingerprint]:
        before = self.fingerprint()
        store = PoleStore.load([Path(p) for p, _, _ in before], mapping=self.mapping, policy=self.policy)
        return store, before


@dataclass(frozen=True)
class ReloadOutcome:
    reloaded: bool
    records: int
    problem: str = ""


class ReloadingPoliceConnector:
    """``AgencyConnector``: each enquiry is answered by the police connector of the current export snapshot."""

    agency_kind = AgencyKind.POLICE

    def __init__(self, agency_id: str, source: PoleSource, store: PoleStore, fingerprint: Fingerprint,
                 options: PoliceOptions, *, delivery: Model3Delivery | None = None,
                 check_on_enquiry: bool = True, watcher: DaAlertWatcher | None = None) -> None:
        self.agency_id = agency_id
        self.watcher = watcher  # DA alerts for watched children (connectors.police.watch)
        self.source = source
        self.options = options
        self.delivery = delivery
        self.check_on_enquiry = check_on_enquiry
        self.reloads = 0
        self._current = PoliceConnector(agency_id, store, options, delivery=delivery)
        self._fingerprint = fingerprint
        self._refused: Fingerprint | None = None  # a changed set of files that could not be used
        self._lock = threading.Lock()

    @property
    def store(self) -> PoleStore:
        return self._current.store

    def refresh(self, *, block: bool = True) -> ReloadOutcome:
        """Reload when the export files changed; keep the old store if the new files cannot be used."""
        if not self._lock.acquire(blocking=block):
            return ReloadOutcome(False, len(self.store), "another reload is in progress")
        try:
            now = self.source.fingerprint()
            if now == self._fingerprint or now == self._refused:
                if self.watcher is not None:
                    self.watcher.poll(self.store)  # alerts that could not be published last time
                return ReloadOutcome(False, len(self.store))
            store, loaded = self.source.load()
            if store.file_errors or len(store) == 0:
                self._refused = loaded
                problem = (f"{len(store.file_errors)} unreadable file(s)" if store.file_errors
                           else "no usable record")
                log.error("police.reload_refused", agency_id=self.agency_id, files=len(loaded), problem=problem,
                          kept_records=len(self.store))
                return ReloadOutcome(False, len(self.store), problem)
            self._current = PoliceConnector(self.agency_id, store, self.options, delivery=self.delivery)
            self._fingerprint = loaded
            self._refused = None
            self.reloads += 1
            log.info("police.exports_reloaded", agency_id=self.agency_id, files=len(loaded), records=len(store),
                     rejected=len(store.rejected))
            if self.watcher is not None:
                self.watcher.after_reload(store)
            return ReloadOutcome(True, len(store))
        finally:
            self._lock.release()

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        if self.check_on_enquiry:
            self.refresh(block=False)  # a reload in progress elsewhere: answer from the current snapshot
        connector = self._current  # one snapshot for the whole enquiry
        responses = connector.handle(enquiry)
        if self.watcher is not None:
            self.watcher.watch_answer(enquiry, responses)
        return responses


def _initial_load(ctx: ConnectorContext, options: PoleOptions, source: PoleSource) -> tuple[PoleStore, Fingerprint]:
    prefix = f"agencies[{ctx.agency_index}].options.exports"
    missing = [ConfigIssue(path=f"{prefix}[{i}]", rule=f"no such file or folder: {p}")
               for i, p in enumerate(source.paths) if not p.exists()]
    if missing:
        raise ConfigError(missing, file=ctx.config_file)
    store, fingerprint = source.load()
    if not fingerprint:
        raise ConfigError([ConfigIssue(path=prefix, rule="no POLE export file (*.json, *.csv) found there")],
                          file=ctx.config_file)
    if len(store) == 0:
        first = str(store.file_errors[0]) if store.file_errors else f"{len(store.rejected)} record(s) rejected"
        raise ConfigError([ConfigIssue(path=prefix, rule=f"no usable POLE record in {len(fingerprint)} file(s): "
                                                         f"{first}")], file=ctx.config_file)
    if store.file_errors or store.rejected:
        log.warning("police.exports_partly_loaded", agency_id=ctx.agency.id, records=len(store),
                    rejected=len(store.rejected), unreadable_files=len(store.file_errors))
    return store, fingerprint


def build_pole(ctx: ConnectorContext) -> BuiltConnector:
    """``connector: pole``: search the force's POLE exports, reloaded when they change; optional Model 3."""
    options: PoleOptions = parse_connector_options(PoleOptions, dict(ctx.agency.options), ctx.agency_index,
                                                   file=ctx.config_file)
    agency_id = ctx.agency.id
    police_options = PoliceOptions(responder=options.responder, contact=options.contact,
                                   linked_people=options.linked_people)
    services: list[BackgroundService] = []
    wiring: DeliveryWiring | None = None
    if options.delivery is not None:
        wiring = build_delivery(
            ctx, options.delivery, agency_kind=AgencyKind.POLICE, organisation=options.force_code,
            release=lambda findings: release_findings(findings, contact=options.contact, agency_id=agency_id))
        services.extend(wiring.services)
    parts: list[str] = []
    effects: list[LocalEffect] = []
    connector: AgencyConnector
    if options.delivery is not None and not options.delivery.search:
        assert wiring is not None
        connector = compose(ctx, None, wiring, agency_kind=AgencyKind.POLICE, responder=options.responder)
    else:
        source = PoleSource([resolve_path(ctx.settings.state_dir, p) for p in options.exports],
                            policy=ctx.agency.matching)
        store, fingerprint = _initial_load(ctx, options, source)
        watcher = _da_watcher(ctx, options)
        reloading = ReloadingPoliceConnector(
            agency_id, source, store, fingerprint, police_options,
            delivery=wiring.delivery if wiring else None, check_on_enquiry=options.reload == "on_enquiry",
            watcher=watcher)
        watcher.start(store)
        effects.append(ReferralClosedEffect(watcher))
        parts.append("domestic-abuse alerts for watched children")
        connector = reloading
        if options.reload == "interval":
            services.insert(0, PeriodicService("pole-reload", reloading.refresh, options.reload_interval_s))
        parts.append(f"POLE search of {len(fingerprint)} export file(s), {len(store)} person(s), "
                     f"reload {options.reload.replace('_', ' ')}")
        if options.cctn_intake:
            forwarder = CctnForwarder(lambda: reloading.store.records, BrokerReferralSink(ctx.broker_factory, agency_id),
                                      CctnReferralBuilder(default_local_authority=ctx.settings.local_authority.code))
            services.append(PeriodicService("cctn-intake", forwarder.run_once, options.cctn_interval_s))
            parts.append("CCTN/PPN records sent to the hub as referrals")
    if wiring is not None:
        parts.append(wiring.description)
    _add_events(ctx, options, services, parts, effects)
    return BuiltConnector(connector, services, "; ".join(parts))


def _da_watcher(ctx: ConnectorContext, options: PoleOptions) -> DaAlertWatcher:
    """DA alerts to the hub, signed as the agency and confirmed; state in ``connector-<id>.police-watch.sqlite``."""
    from ..health.adt_service import AlertPublisher

    return DaAlertWatcher(ctx.agency.id, PoliceWatchState(ctx.state_path("police-watch.sqlite")),
                          AlertPublisher(ctx.broker_factory, ctx.agency.id), organisation=options.force_code)


def _add_events(ctx: ConnectorContext, options: PoleOptions, services: list[BackgroundService], parts: list[str],
                effects: Sequence[LocalEffect] = ()) -> None:
    """The ``agency-events`` consumer: outcomes and escalations to the team's tool, with receipts;
    ``effects`` run locally for each event (an outcome ends the DA watch on its referral)."""
    from ..events.wiring import native_events

    service, description = native_events(ctx, options.events, options.delivery, effects=effects)
    if service is not None:
        services.append(service)
    parts.append(description)
