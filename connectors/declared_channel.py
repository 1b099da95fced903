"""``connector: records``: the declared channel, for an agency that is only configuration and a mapping spec.

Why: a housing service, a youth justice team or a voluntary partner usually
holds its records in a case system that can export CSV, JSON or XML. Serving
one should need no Python: the channel is

    source (the export: a file, or a folder of files)
      -> mapping spec (YAML, ``target: AgencyRecord``; its ``language`` picks the reader)
      -> index (:class:`~mashlink.matching.index.MatchIndex`, rebuilt from the export)
      -> matching search (the shared matcher; near-ties go to a person)
      -> answer (:class:`~mashlink.connectors.answer_builder.AnswerBuilder`)
      -> optional Model 3 delivery (``options.delivery``)
      -> events delivery (``options.events``: web hook or drop folder)

The export is the source of truth: the index is rebuilt from it at start and
whenever its files change (checked every ``reload_interval_s``), into a new
index file that replaces the old one only when complete, so a search never
sees half an export. Only settled files are read (no upload tool's partial
name, nothing changed for ``settle_s``), and a read that finds no file, cannot
read one, or yields no record where the old index had some keeps the old
index and is retried on the next poll: a missing or broken nightly export
must not turn every enquiry into ``not_known``. A record the spec rejects is counted and reported by
position (never its content); a record that claims another agency kind than
the agency's is rejected the same way.

Example (paths relative to the state directory unless absolute)::

    - id: housing-synth
      kind: other
      name: Synthshire Housing
      connector: records
      options:
        records: exports/tenancies.csv
        spec: /etc/mashlink/housing-tenancies.yaml
"""

from __future__ import annotations

import threading
import time
from functools import partial
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog
from pydantic import Field

from ..config.connector_kinds import LinkedPeople, connector_kinds
from ..config.errors import ConfigError, ConfigIssue
from ..config.matching import MatchPolicy
from ..mapping import CompiledMapping, load_spec
from ..mapping.batch import translate_files
from ..mapping.errors import MappingEngineError
from ..mapping.formats import READERS_BY_LANGUAGE
from ..matching.index import MatchIndex, entries_from_records
from ..schemas.codes import AgencyKind
from ..schemas.enquiry import Enquiry, EnquiryResponse
from ..schemas.record import AgencyRecord
from .answer_builder import AnswerBuilder, RecordHit, kind_release, linked_people_for
from .base import AgencyConnector, PermanentEnquiryError
from .channel_options import NativeChannelOptions
from .delivery.options import parse_connector_options, resolve_path
from .delivery.wiring import DeliveryWiring, PeriodicService, build_delivery, compose
from .events.wiring import native_events
from .factory import BackgroundService, BuiltConnector, ConnectorContext
from .files import is_partial
from .indexed_search import base_record_id, hits_from_outcome, mother_in_enquiry, others_in_enquiry

log = structlog.get_logger(__name__)

#: File suffixes read from a folder export, by the spec's path language.
_SUFFIXES = {"csv": (".csv",), "json": (".json",), "xml": (".xml",)}


class RecordsChannelOptions(NativeChannelOptions):
    """``connector: records``: answer from an agency's export through a mapping spec (Model 2), optionally deliver."""

    records: Path = Field(description="The agency's export: a file, or a folder whose files of the spec's language "
                                      "are read together")
    spec: Path = Field(description="Mapping spec (YAML) from one exported record to an AgencyRecord")
    index_file: Path | None = Field(default=None, description="Match index (default: state_dir/connector-<id>."
                                                              "records.match.sqlite3)")
    reload_interval_s: float = Field(default=300.0, ge=0.05, le=86_400,
                                     description="How often the export is checked for changes and re-read")
    settle_s: float = Field(default=5.0, ge=0, le=3600,
                            description="A changed export is read once none of its files changed for this long "
                                        "(an export tool may write in several steps)")
    responder: str = Field(default="MASH team", min_length=1, max_length=200)


@dataclass(frozen=True)
class LoadReport:
    """One read of the export: what was indexed and what was refused (positions and rules, no content)."""

    files: int
    accepted: int
    rejected: int
    problems: tuple[str, ...] = ()
    reloaded: bool = True
    #: The read was unusable (no file, an unreadable file, no record where there were some): the old
    #: index still answers and the export is read again on the next poll.
    kept_previous: bool = False


class ExportSource:
    """The export's files, and a fingerprint that changes when any of them does."""

    def __init__(self, path: Path, language: str) -> None:
        self.path = path
        self.language = language

    def files(self) -> list[Path]:
        """The export's complete files (an upload tool's partial or temporary names are not read)."""
        if self.path.is_dir():
            suffixes = _SUFFIXES.get(self.language, ())
            return sorted(p for p in self.path.iterdir()
                          if p.is_file() and p.suffix.lower() in suffixes and not is_partial(p))
        return [self.path] if self.path.is_file() else []

    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        for p in self.files():
            try:
                stat = p.stat()
            except FileNotFoundError:  # removed while we looked: the next poll sees the folder as it is
                continue
            out.append((p.name, stat.st_size, stat.st_mtime_ns))
        return tuple(out)

    @staticmethod
    def settled(fingerprint: tuple[tuple[str, int, int], ...], settle_s: float) -> bool:
        """No file of ``fingerprint`` changed in the last ``settle_s`` seconds (an empty export is settled)."""
        newest = max((mtime for _, _, mtime in fingerprint), default=0)
        return time.time() - newest / 1e9 >= settle_s


@dataclass(frozen=True)
class ExportRead:
    """What one read of the export gave: the records to index, and what was refused."""

    records: list[AgencyRecord]
    problems: list[str]
    unreadable_files: int


def read_export(mapping: CompiledMapping, files: Sequence[Path], kind: AgencyKind) -> ExportRead:
    """Every record the spec accepts and that is from ``kind``; problems by file, position and rule."""
    result = translate_files(mapping, READERS_BY_LANGUAGE[mapping.language], files)
    problems = [str(e) for e in result.file_errors]
    records: list[AgencyRecord] = []
    for error in result.rejected:
        problems.append(str(error))
    for n, record in enumerate(result.records, start=1):
        assert isinstance(record, AgencyRecord)  # the spec's target is checked when the channel is built
        if record.source.agency_kind is not kind:
            problems.append(f"record {n}: source.agency_kind is {record.source.agency_kind.value}, "
                            f"but the agency is {kind.value} (rule: agency_kind_mismatch)")
            continue
        records.append(record)
    return ExportRead(records, problems, len(result.file_errors))


def unusable_read(files: int, read: ExportRead, indexed: int) -> str | None:
    """Why a read must not replace an index of ``indexed`` records; None when it may (rule names, no content)."""
    if files == 0:
        return "no_export_file"
    if read.unreadable_files:
        return "export_file_unreadable"
    if not read.records and indexed:
        return "no_record_in_export"
    return None


class RecordsIndex:
    """The export's records and their match index, swapped whole on each reload (built beside the one searched).

    ``policy``: the agency's ``matching:`` thresholds (None = ``MatchPolicy`` defaults), given to every
    rebuilt index so a reload never falls back to the defaults.
    """

    def __init__(self, index_path: Path, *, policy: MatchPolicy | None = None) -> None:
        self.index_path = index_path
        self.policy = policy
        self._lock = threading.Lock()
        self._generation = 0
        self._matcher: MatchIndex | None = None
        self._records: dict[str, AgencyRecord] = {}

    def replace(self, records: Sequence[AgencyRecord]) -> None:
        """Index ``records`` in a new file, then make it the one searched and remove the old one."""
        self._generation += 1
        path = self.index_path.with_name(f"{self.index_path.stem}.{self._generation}{self.index_path.suffix}")
        _remove_index_files(path)
        matcher = MatchIndex.create(path, policy=self.policy)
        matcher.add_entries(entries_from_records(records))
        with self._lock:
            old, self._matcher = self._matcher, matcher
            self._records = {r.source.record_id: r for r in records}
        if old is not None:
            old.close()
            _remove_index_files(old.path)

    def __len__(self) -> int:
        return len(self._records)

    def hits(self, enquiry: Enquiry) -> list[RecordHit]:
        """Every record shown for every subject of ``enquiry``, best first per subject.

        Held under the lock: a reload's swap waits for the search in hand, so it never closes the
        index under it (a match index serialises its searches anyway).
        """
        found: list[RecordHit] = []
        with self._lock:
            if self._matcher is None:
                return []
            for subject in enquiry.subjects:
                mother = mother_in_enquiry(subject, enquiry.subjects, enquiry.relationships)
                others = others_in_enquiry(subject, enquiry.subjects)
                for hit in hits_from_outcome(self._matcher.search(subject, mother=mother, others=others)):
                    record = self._records.get(base_record_id(hit.record_id, hit.person.person_id))
                    if record is not None:
                        found.append(RecordHit(subject, record, hit))
        return found

    def close(self) -> None:
        with self._lock:
            matcher, self._matcher = self._matcher, None
        if matcher is not None:
            matcher.close()
            _remove_index_files(matcher.path)


def _remove_index_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


class DeclaredChannel:
    """An :class:`~mashlink.connectors.base.AgencyConnector` over an export, a mapping spec and the shared matcher."""

    answers_inline = True  # a local index search: CPU only, no agency system to wait on

    def __init__(self, agency_id: str, agency_kind: AgencyKind, source: ExportSource, mapping: CompiledMapping,
                 index: RecordsIndex, *, responder: str, linked_people: LinkedPeople | None = None,
                 settle_s: float = 0.0) -> None:
        self.agency_id = agency_id
        self.agency_kind = agency_kind
        self.source = source
        self.mapping = mapping
        self.index = index
        self.settle_s = settle_s
        # The agency kind's rules hold here too: a police agency on records releases nobody else by
        # default and its findings go through the handling-code filter (AnswerBuilder applies it).
        self.answers = AnswerBuilder(agency_id, agency_kind, responder,
                                     linked_people=linked_people_for("records", linked_people, agency_kind))
        self._fingerprint: tuple[tuple[str, int, int], ...] | None = None
        self._reload_lock = threading.Lock()

    def reload(self, *, force: bool = False) -> LoadReport:
        """Re-read the export once its changed files settled (or ``force``); the old index serves till the new is whole.

        An unusable read (see :func:`unusable_read`) keeps the old index and leaves the fingerprint as
        it was, so the next poll tries again.
        """
        with self._reload_lock:
            fingerprint = self.source.fingerprint()
            unchanged = fingerprint == self._fingerprint
            if not force and (unchanged or not ExportSource.settled(fingerprint, self.settle_s)):
                return LoadReport(len(fingerprint), len(self.index), 0, reloaded=False)
            files = self.source.files()
            read = read_export(self.mapping, files, self.agency_kind)
            report = LoadReport(len(files), len(read.records), len(read.problems), tuple(read.problems))
            reason = unusable_read(len(files), read, len(self.index))
            if reason is not None:
                log.warning("records_channel.export_unusable_kept_previous", agency_id=self.agency_id,
                            rule=reason, files=report.files, accepted=report.accepted,
                            rejected=report.rejected, unreadable_files=read.unreadable_files,
                            serving=len(self.index))
                return LoadReport(report.files, report.accepted, report.rejected, report.problems,
                                  reloaded=False, kept_previous=True)
            self.index.replace(read.records)
            self._fingerprint = fingerprint
            log.info("records_channel.loaded", agency_id=self.agency_id, files=report.files,
                     accepted=report.accepted, rejected=report.rejected)
            return report

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        if enquiry.agency_id != self.agency_id:
            raise PermanentEnquiryError(f"enquiry.agency_id is not this connector's agency ({self.agency_id})")
        if enquiry.agency_kind is not self.agency_kind:
            raise PermanentEnquiryError(
                f"enquiry.agency_kind {enquiry.agency_kind.value} is not {self.agency_kind.value}")
        return [self.answers.build(enquiry, self.index.hits(enquiry))]


def _issue(ctx: ConnectorContext, field: str, rule: str) -> ConfigError:
    return ConfigError([ConfigIssue(path=f"agencies[{ctx.agency_index}].options.{field}", rule=rule)],
                       file=ctx.config_file)


def records_channel(ctx: ConnectorContext, options: RecordsChannelOptions) -> DeclaredChannel:
    """The search side of the channel, loaded once; ConfigError naming the option for a bad spec or export."""
    state_dir = ctx.settings.state_dir
    spec_path = resolve_path(state_dir, options.spec)
    if not spec_path.is_file():
        raise _issue(ctx, "spec", f"mapping spec {spec_path} does not exist")
    try:
        mapping = load_spec(spec_path)
    except (MappingEngineError, OSError) as exc:
        raise _issue(ctx, "spec", f"cannot load mapping spec {spec_path}: {exc}") from None
    if mapping.spec.target != "AgencyRecord":
        raise _issue(ctx, "spec", f"the spec's target is {mapping.spec.target}; a channel needs AgencyRecord")
    if mapping.language not in _SUFFIXES:
        raise _issue(ctx, "spec", f"the spec's language is {mapping.language}; a records channel reads "
                                  f"{', '.join(sorted(_SUFFIXES))}")
    records_path = resolve_path(state_dir, options.records)
    if not records_path.exists():
        raise _issue(ctx, "records", f"the export {records_path} does not exist")
    index_path = (resolve_path(state_dir, options.index_file) if options.index_file
                  else state_dir / f"connector-{ctx.agency.id}.records.match.sqlite3")
    index_path.parent.mkdir(parents=True, exist_ok=True)
    problem = (connector_kinds().linked_people_problem(ctx.agency.kind, options.linked_people)
               if options.linked_people is not None else None)
    if problem:
        raise _issue(ctx, "linked_people", problem)
    channel = DeclaredChannel(ctx.agency.id, ctx.agency.kind, ExportSource(records_path, mapping.language),
                              mapping, RecordsIndex(index_path, policy=ctx.agency.matching),
                              responder=options.responder,
                              linked_people=options.linked_people, settle_s=options.settle_s)
    channel.reload(force=True)
    return channel


def build_records_channel(ctx: ConnectorContext) -> BuiltConnector:
    """``connector: records``: export -> spec -> index -> search -> answer, optional Model 3, events."""
    options: RecordsChannelOptions = parse_connector_options(
        RecordsChannelOptions, dict(ctx.agency.options), ctx.agency_index, file=ctx.config_file)
    services: list[BackgroundService] = []
    parts: list[str] = []
    search: DeclaredChannel | None = None
    if options.delivery is None or options.delivery.search:
        search = records_channel(ctx, options)
        services.append(PeriodicService("records-reload", search.reload, options.reload_interval_s))
        parts.append(f"{len(search.index)} record(s) from {search.source.path} by {search.mapping.name}, "
                     f"re-read every {options.reload_interval_s:g} s when changed")
    wiring: DeliveryWiring | None = None
    if options.delivery is not None:
        kind_filter = kind_release(ctx.agency.kind)
        release = (None if kind_filter is None else
                   partial(kind_filter, contact=options.responder, agency_id=ctx.agency.id))
        wiring = build_delivery(ctx, options.delivery, agency_kind=ctx.agency.kind, release=release)
        services.extend(wiring.services)
        parts.append(wiring.description)
    connector: AgencyConnector = compose(ctx, search, wiring, agency_kind=ctx.agency.kind,
                                         responder=options.responder)
    events, description = native_events(ctx, options.events, options.delivery)
    if events is not None:
        services.append(events)
    parts.append(description)
    return BuiltConnector(connector, services, "; ".join(parts))
