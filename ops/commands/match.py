"""``mashlink match``: the candidate-search index, searching it, and a person's decisions on matches.

``match index build FORMAT FILE... --db PATH`` loads an agency's export (any
``mashlink translate`` format, or ``person-jsonl``: one canonical ``Person``
per line, its ``person_id`` the record id) into a match index (one SQLite
file per agency; see ``mashlink.matching.index``). Loading into an existing
index upserts by record id (an export reload); ``--remove-missing`` also
drops records the new export no longer holds; ``--policy FILE`` stores the
agency's thresholds (a ``matching:`` YAML block). The index is then trained
(EM over blocked pairs; ``--no-train`` skips it). Rejected records are
reported on stderr (position, field, rule); the good ones are still indexed
and the exit status is 1.

``match search --db PATH SUBJECTS.jsonl`` prints one JSON line per subject:
``{"subject_id", "outcome", "reasons", "results": [{"record_id",
"probability", "decision", "match_weight", "vetoes", "contributions":
{field: weight}}]}``. A line is a canonical ``Person``, or ``{"subject":
Person, "mother": Person, "others": [Person]}`` (``mother``: an unborn
child's mother; ``others``: the referral's other people, its other subjects
and household, so a record that is plainly the co-twin or sibling named on
the same referral is not offered for the subject; both optional); an unborn
subject whose ``mother_person_id`` names another line's person uses that
line as its mother. A bad line is reported on stderr (line number, field, rule) and the
rest are searched; the exit status is then 1. This interface is how matching
is evaluated: keep it stable.

Summaries go to stderr (``--json``: one JSON object); progress shows only
on a terminal.

``match confirm|reject REFERRAL``: a person's decision on an uncertain identity match.

An agency record whose link to a referral person the hub is not sure of
waits in the linked view's "for review" section. ``confirm`` moves its
findings into the chronology (the link becomes ``manual``, decided by the
actor); ``reject`` withholds them as probably about another family. The
record is named as the linked view shows it (``--subject`` the referral
person_id, ``--agency``, ``--system``, ``--record``); a reason is required.
A later decision on the same record supersedes the earlier one; both stay
on record and each is written to the tamper-evident audit trail. The actor
defaults to the shell user (``cli:<user>``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ...config.matching import MatchPolicy
    from ...matching.decide import SearchOutcome
    from ...matching.index import IndexEntry, PreparedRow
    from ...matching.labels import ReviewLabel
    from ...schemas.person import Person

match_app = typer.Typer(help="Build and search match indexes; confirm or reject an agency record's link to a "
                             "referral person.", no_args_is_help=True)
index_app = typer.Typer(help="Build and maintain an agency's candidate-search index.", no_args_is_help=True)
match_app.add_typer(index_app, name="index")


def _decide(confirmed: bool, referral: str, subject: str, agency: str, system: str, record: str, reason: str,
            actor: str | None, config: Path | None) -> None:
    from pydantic import ValidationError

    from ...broker.codec import describe_validation_error
    from ...hub.errors import InvalidInput, NotFound
    from ...hub.match_review import MatchDecisionRequest
    from .dlq import shell_subject
    from ..wiring import open_hub, settings_or_exit

    try:
        request = MatchDecisionRequest(subject_person_id=subject, agency_id=agency, source_system=system,
                                       record_id=record, reason=reason, confirmed=confirmed)
    except ValidationError as exc:
        typer.echo(f"invalid match decision; nothing was stored: {describe_validation_error(exc)}", err=True)
        raise typer.Exit(2) from None
    settings = settings_or_exit(config)
    service = open_hub(settings)
    try:
        stored = service.decide_match(referral, request, actor=actor or shell_subject())
    except InvalidInput as exc:
        typer.echo(f"invalid {exc.what}; nothing was stored:", err=True)
        for problem in exc.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(1) from None
    except NotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    finally:
        service.close()
    verb = "confirmed" if stored.confirmed else "rejected"
    typer.echo(f"{verb}: {stored.agency_id} {stored.source_system} record {stored.record_id} for person "
               f"{stored.subject_person_id} of referral {referral}, by {stored.by}; audited")


_SUBJECT = typer.Option(..., "--subject", help="The referral person (person_id) the record is linked to.")
_AGENCY = typer.Option(..., "--agency", help="The agency id that holds the record.")
_SYSTEM = typer.Option(..., "--system", help="The record's source system, as the linked view shows it.")
_RECORD = typer.Option(..., "--record", help="The record id in that system.")
_REASON = typer.Option(..., "--reason", help="Why (recorded in the audit trail).")
_ACTOR = typer.Option(None, "--actor", help="Who decided (default cli:<shell user>).")
_CONFIG = typer.Option(None, "--config", help="YAML settings file.")


@match_app.command("confirm")
def confirm(referral: str = typer.Argument(..., help="Referral id."), subject: str = _SUBJECT,
            agency: str = _AGENCY, system: str = _SYSTEM, record: str = _RECORD, reason: str = _REASON,
            actor: str = _ACTOR, config: Path = _CONFIG) -> None:
    """Confirm the record is about this person: its findings join the chronology."""
    _decide(True, referral, subject, agency, system, record, reason, actor, config)


@match_app.command("reject")
def reject(referral: str = typer.Argument(..., help="Referral id."), subject: str = _SUBJECT,
           agency: str = _AGENCY, system: str = _SYSTEM, record: str = _RECORD, reason: str = _REASON,
           actor: str = _ACTOR, config: Path = _CONFIG) -> None:
    """Reject the record's link to this person: its findings are withheld."""
    _decide(False, referral, subject, agency, system, record, reason, actor, config)


# --------------------------------------------------------------------------- index build and search

PERSON_JSONL = "person-jsonl"


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _summary(data: dict[str, object], text: str, as_json: bool) -> None:
    import json

    _err(json.dumps(data, sort_keys=True) if as_json else text)


def _validation_text(exc: Exception) -> str:
    from ...matching.index import validation_error_text

    return validation_error_text(exc)


def _line_chunks(files: list[Path], bad: list[str], size: int = 2000
                 ) -> "Iterator[tuple[Path, list[tuple[int, str]]]]":
    for path in files:
        try:
            handle = path.open("r", encoding="utf-8")
        except OSError as exc:
            bad.append(f"{path}: cannot read ({exc.strerror or exc})")
            continue
        with handle:
            chunk: list[tuple[int, str]] = []
            for number, line in enumerate(handle, 1):
                if line.strip():
                    chunk.append((number, line))
                if len(chunk) >= size:
                    yield path, chunk
                    chunk = []
            if chunk:
                yield path, chunk


def _person_jsonl_rows(files: list[Path], bad: list[str], workers: int) -> "Iterator[PreparedRow]":
    """Prepared index rows from person-JSONL files, the per-person work spread over ``workers`` processes.

    Rows come back in file order; bad lines are reported into ``bad`` (file, line, field, rule).
    """
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    from ...matching.index import prepare_person_lines

    def report(path: Path, errors: list[tuple[int, str]]) -> None:
        bad.extend(f"{path} line {number}: rejected: {message}" for number, message in errors)

    if workers <= 1:
        for path, chunk in _line_chunks(files, bad):
            rows, errors = prepare_person_lines(chunk)
            report(path, errors)
            yield from rows
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque[tuple[Path, Future]] = deque()
        for path, chunk in _line_chunks(files, bad):
            pending.append((path, pool.submit(prepare_person_lines, chunk)))
            if len(pending) > 2 * workers:  # bounded memory: a few chunks in flight
                done_path, future = pending.popleft()
                rows, errors = future.result()
                report(done_path, errors)
                yield from rows
        while pending:
            done_path, future = pending.popleft()
            rows, errors = future.result()
            report(done_path, errors)
            yield from rows


def _format_entries(fmt: str, files: list[Path], la: str | None, bad: list[str]) -> "Iterator[IndexEntry]":
    """Index entries from native files through the format's mapping (as ``mashlink translate`` reads them)."""
    from ...mapping import default_registry
    from ...mapping.errors import Issue, RecordError
    from ...mapping.readers import RowProblem
    from ...mapping.stream import StreamSummary, iter_native
    from ...matching.index import entries_from_records
    from .translate import _resolve, _with_la_code
    from ...schemas.record import AgencyRecord

    registry = default_registry()
    if fmt not in registry:
        _err(f"unknown format {fmt!r}; known: {', '.join([*registry.names(), PERSON_JSONL])}")
        raise typer.Exit(2)
    mapping, reader = _resolve(registry, fmt, None)
    if la is not None:
        reader = _with_la_code(reader, fmt, la)
    summary = StreamSummary()

    def records() -> Iterator[AgencyRecord]:
        for native, position in iter_native(reader, files, mapping, summary):
            if isinstance(native, RowProblem):
                bad.append(str(RecordError(position, [Issue("record", "format", native.message)], mapping.file)))
                continue
            try:
                record = mapping.translate(native, position)
            except RecordError as error:
                bad.append(str(error))
                continue
            if isinstance(record, AgencyRecord):
                yield record
            else:
                bad.append(f"{position}: not an agency record ({type(record).__name__}); not indexed")
        bad.extend(f"warning: {w}" for w in summary.warnings)
        bad.extend(f"cannot read {e}" for e in summary.file_errors)

    yield from entries_from_records(records())


def _load_policy(path: Path) -> "MatchPolicy":
    """An agency's thresholds from YAML: a ``matching:`` block (as in the settings file) or the fields alone."""
    import yaml
    from pydantic import ValidationError

    from ...config.matching import MatchPolicy

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        _err(f"--policy {path}: cannot read ({exc})")
        raise typer.Exit(2) from None
    if isinstance(data, dict) and isinstance(data.get("matching"), dict):
        data = data["matching"]
    try:
        return MatchPolicy.model_validate(data)
    except ValidationError as exc:
        _err(f"--policy {path}: invalid matching policy: {_validation_text(exc)}")
        raise typer.Exit(2) from None


@index_app.command("build")
def index_build(
    fmt: str = typer.Argument(..., metavar="FORMAT", help="A `mashlink translate` format, or person-jsonl."),
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="Export files."),
    db: Path = typer.Option(..., "--db", help="The index file (created if missing, else updated)."),
    la: str = typer.Option(None, "--la", help="LA code for files that carry none (cin, ssda903)."),
    remove_missing: bool = typer.Option(False, "--remove-missing",
                                        help="Also remove records this load did not include (a full reload)."),
    workers: int = typer.Option(0, "--workers", min=0,
                                help="Processes computing features and keys (0: one per CPU core)."),
    train: bool = typer.Option(True, "--train/--no-train", help="Learn the weights after loading (EM)."),
    policy_file: Path = typer.Option(None, "--policy", help="YAML with the agency's `matching:` thresholds "
                                                           "(stored in the index; default: MatchPolicy.default())."),
    as_json: bool = typer.Option(False, "--json", help="Summary as one JSON object on stderr."),
) -> None:
    """Load an agency export into its match index (upsert by record id), then train it."""
    import time

    from ...matching.index import MatchIndex, NotAnIndex
    from .translate import _progress
    from ...config.logging import configure_logging

    configure_logging("WARNING")  # the summary below says what happened; logs go to stderr only
    started = time.monotonic()
    policy = _load_policy(policy_file) if policy_file is not None else None
    bad: list[str] = []
    if fmt != PERSON_JSONL:
        from ...mapping import default_registry

        known = default_registry().names()
        if fmt not in known:
            _err(f"unknown format {fmt!r}; known: {', '.join([*known, PERSON_JSONL])}")
            raise typer.Exit(2)
    try:
        index = MatchIndex.open(db) if db.exists() else MatchIndex.create(db)
    except (NotAnIndex, OSError) as exc:
        _err(f"cannot open the index: {exc}")
        raise typer.Exit(2) from None
    import os

    from ...matching.index import prepare_entries

    loaded: set[str] = set()
    processes = workers or os.cpu_count() or 1
    with index:
        if policy is not None:
            index.set_policy(policy)
        before = len(index)
        rows = (_person_jsonl_rows(files, bad, processes) if fmt == PERSON_JSONL
                else prepare_entries(_format_entries(fmt, files, la, bad), processes))

        def tracked() -> "Iterator[PreparedRow]":
            for row in rows:
                if remove_missing:
                    loaded.add(row[0])
                yield row

        with _progress(f"indexing {fmt}") as on_progress:
            written = index.add_prepared(tracked(), on_progress=on_progress)
        removed = 0
        if remove_missing and written:
            removed = index.remove([r for r in index.record_ids() if r not in loaded])
        trained = False
        if train and len(index):
            index.train()
            trained = True
        total = len(index)
    for line in bad:
        _err(line)
    rejected = sum(1 for line in bad if not line.startswith("warning: "))
    seconds = round(time.monotonic() - started, 2)
    _summary({"db": str(db), "written": written, "rejected": rejected, "removed": removed, "before": before,
              "people": total, "trained": trained, "seconds": seconds},
             f"{db}: {written} person record(s) written, {rejected} rejected, {removed} removed; "
             f"{total} in the index (was {before}){'; trained' if trained else ''} in {seconds} s", as_json)
    if rejected or not written:
        raise typer.Exit(1)


def _read_others(raw: object) -> tuple[list["Person"], str | None]:
    """A subject line's ``others``: the people, or why the list was refused (field, rule, position)."""
    from pydantic import ValidationError

    from ...schemas.person import Person

    if raw is None:
        return [], None
    if not isinstance(raw, list):
        return [], f"field others: must be a list of Person objects, not {type(raw).__name__} (rule list_type)"
    people = []
    for position, item in enumerate(raw):
        try:
            people.append(Person.model_validate(item))
        except ValidationError as exc:
            return [], f"rejected: others[{position}]: {_validation_text(exc)}"
    return people, None


def _read_subjects(path: Path, bad: list[str]) -> list[tuple[int, "Person", "Person | None", list["Person"]]]:
    """Parse every subject line first, so an unborn subject can name a mother on any other line."""
    import json

    from pydantic import ValidationError

    from ...schemas.person import Person

    parsed: list[tuple[int, Person, Person | None, list[Person]]] = []
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                bad.append(f"line {number}: not JSON ({exc})")
                continue
            try:
                if isinstance(data, dict) and "subject" in data:
                    extra = set(data) - {"subject", "mother", "others"}
                    if extra:
                        bad.append(f"line {number}: field {sorted(extra)[0]}: not allowed here (a line is a "
                                   f"Person, or {{\"subject\": ..., \"mother\": ..., \"others\": [...]}})")
                        continue
                    subject = Person.model_validate(data["subject"])
                    mother = Person.model_validate(data["mother"]) if data.get("mother") is not None else None
                    others, refused = _read_others(data.get("others"))
                    if refused is not None:
                        bad.append(f"line {number}: {refused}")
                        continue
                else:
                    subject, mother, others = Person.model_validate(data), None, []
            except ValidationError as exc:
                bad.append(f"line {number}: rejected: {_validation_text(exc)}")
                continue
            parsed.append((number, subject, mother, others))
    by_id = {s.person_id: s for _n, s, _m, _o in parsed}
    return [(n, s, m if m is not None else (by_id.get(s.mother_person_id) if s.mother_person_id else None), o)
            for n, s, m, o in parsed]


def outcome_json(subject_id: str, outcome: "SearchOutcome") -> dict[str, object]:
    """The stable per-subject result line of ``match search``."""
    return {
        "subject_id": subject_id,
        "outcome": outcome.outcome.value,
        "reasons": list(outcome.reasons),
        "results": [
            {
                "record_id": r.record_id,
                "probability": round(r.pair.probability, 6),
                "decision": r.pair.decision.value,
                "match_weight": round(r.pair.match_weight, 4),
                "vetoes": list(r.pair.vetoes),
                "contributions": {c.field: round(c.weight, 4) for c in r.pair.contributions},
            }
            for r in outcome.results
        ],
    }


@match_app.command("search")
def search(
    subjects: Path = typer.Argument(..., metavar="SUBJECTS.jsonl", help="One canonical Person per line."),
    db: Path = typer.Option(..., "--db", help="The agency's match index."),
    as_json: bool = typer.Option(False, "--json", help="Summary as one JSON object on stderr."),
) -> None:
    """Search an index for each subject: one JSON line of results per subject on stdout."""
    import json
    import time

    from ...matching.index import MatchIndex, NotAnIndex
    from .translate import _progress
    from ...config.logging import configure_logging

    configure_logging("WARNING")  # stdout carries only the result lines
    bad: list[str] = []
    try:
        index = MatchIndex.open(db)
    except (FileNotFoundError, NotAnIndex) as exc:
        _err(f"cannot open the index: {exc}")
        raise typer.Exit(2) from None
    try:
        parsed = _read_subjects(subjects, bad)
    except OSError as exc:
        index.close()
        _err(f"cannot read {subjects}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    for line in bad:
        _err(line)
    counts = {"match": 0, "candidate": 0, "no_match": 0}
    latencies: list[float] = []
    with index, _progress("searching") as on_progress:
        for done, (_number, subject, mother, others) in enumerate(parsed, 1):
            started = time.perf_counter()
            outcome = index.search(subject, mother=mother, others=others)
            latencies.append(time.perf_counter() - started)
            counts[outcome.outcome.value] += 1
            typer.echo(json.dumps(outcome_json(subject.person_id, outcome), separators=(",", ":")))
            if on_progress is not None:
                on_progress(done)
    latencies.sort()

    def pct(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2) if latencies else 0.0

    _summary({"subjects": len(parsed), "bad_lines": len(bad), **counts, "p50_ms": pct(0.5), "p99_ms": pct(0.99)},
             f"{len(parsed)} subject(s) searched: {counts['match']} match, {counts['candidate']} candidate, "
             f"{counts['no_match']} no match; {len(bad)} bad line(s); p50 {pct(0.5)} ms, p99 {pct(0.99)} ms",
             as_json)
    if bad:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- review decisions as labels


@match_app.command("labels")
def labels_export(
    agency: str = typer.Option(..., "--agency", help="The agency id whose decided records to export."),
    out: Path = typer.Option(..., "--out", help="JSON-lines file to write (one ReviewLabel per line)."),
    config: Path = _CONFIG,
) -> None:
    """Export people's confirm / reject decisions on one agency's records as labels for its match index.

    Each line names the agency's record id and carries the subject as referred: give the
    file to the agency's index (`mashlink match train --db INDEX --labels FILE`).
    """
    from ...config.atomic_files import atomic_write_text
    from ...hub.match_review import review_labels
    from ..wiring import open_hub, settings_or_exit

    service = open_hub(settings_or_exit(config))
    try:
        with service.store.read() as session:
            labels = review_labels(session, agency)
    finally:
        service.close()
    # Names, birth dates and mothers: readable by the owner only, and all of the file or none of it.
    try:
        atomic_write_text(out, "".join(label.model_dump_json(exclude_defaults=True) + "\n" for label in labels),
                          mode=0o600)
    except OSError as exc:
        typer.echo(f"error: cannot write {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    confirmed = sum(1 for label in labels if label.confirmed)
    typer.echo(f"{out}: {len(labels)} label(s) for agency {agency} ({confirmed} confirmed, "
               f"{len(labels) - confirmed} rejected)")


def _read_labels(path: Path) -> "list[ReviewLabel]":
    """Every line a ReviewLabel, else exit 2 naming the line and the field."""
    from pydantic import ValidationError

    from ...matching.labels import ReviewLabel

    labels: list[ReviewLabel] = []
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                labels.append(ReviewLabel.model_validate_json(line))
            except ValidationError as exc:
                _err(f"{path}:{number}: not a review label: {_validation_text(exc)}")
                raise typer.Exit(2) from None
    return labels


@match_app.command("train")
def train_labels(
    db: Path = typer.Option(..., "--db", help="The agency's match index."),
    labels_file: Path = typer.Option(..., "--labels", help="Labels from `mashlink match labels`."),
    as_json: bool = typer.Option(False, "--json", help="Summary as one JSON object on stderr."),
) -> None:
    """Move the index's weights with review decisions (after `index build`, which trains afresh)."""
    from ...matching.index import MatchIndex, NotAnIndex

    if not labels_file.exists():
        _err(f"no such labels file: {labels_file}")
        raise typer.Exit(2)
    labels = _read_labels(labels_file)
    try:
        index = MatchIndex.open(db)
    except (NotAnIndex, OSError) as exc:
        _err(f"cannot open the index: {exc}")
        raise typer.Exit(2) from None
    with index:
        try:
            report = index.train_from_labels(labels)
        except ValueError as exc:
            _err(str(exc))
            raise typer.Exit(1) from None
    for line in report.unknown_records:
        _err(f"warning: {line}")
    _summary({"db": str(db), "confirmed": report.confirmed, "rejected": report.rejected,
              "unknown_records": len(report.unknown_records)},
             f"{db}: weights moved by {report.confirmed} confirmed and {report.rejected} rejected decision(s); "
             f"{len(report.unknown_records)} label(s) name no record in the index", as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(match_app, name="match")
