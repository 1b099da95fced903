"""Identity matching at population scale: the MatchIndex against an exact-match baseline and the old rules.

A synthetic population (``bench/matching_population.py``: skewed surnames,
households, twins, unborn children, moved families) is indexed, and
corrupted referral subjects, each labelled with its true record (or none:
about 20 % are twins, siblings, parents or whole households the agency has
never met), are searched. Measured in the same run:

* **candidate**: ``matching.index.MatchIndex`` built from the population,
  trained (EM on blocked pairs, term frequencies), every subject searched;
  build, train and per-subject search times, and peak memory. The build and
  searches run in a child process so its peak RSS is the index's, not this
  process's. The population is first written to a JSON-lines export (not
  timed: it is the agency's file); the build reads it and computes features
  and blocking keys in ``BUILD_WORKERS`` processes (the index's ``workers=``),
  and its CPU time includes those processes.
  Each subject is searched with the referral's other people (its household as
  the referrer lists them, ``others``), as a connector searches an enquiry;
  the same subjects are searched again alone (untimed) to show what the
  household adds.
* **review decisions as labels**: the candidates shown for the first half of
  the subjects are decided (the truth stands in for the reviewer), applied
  with ``train_from_labels``, and the second half is searched again; its
  figures before and after are printed (untimed).
* **exact-match baseline** (issue 16): a valid NHS number on the referral
  matches the record holding it; else given name + family name + date of
  birth, one record = match, several = review.
* **rules, full scan**: ``matching.rules.match_person`` against every record
  of a 20,000-person population for 50 subjects (it is ~50 us a pair, so
  bounded), with the candidate on the same 50 subjects for comparison.

Set ``MASHLINK_BENCH_MATCHING_KEEP=DIR`` to keep the SQLite index, the
subjects, their truth and every outcome for diagnosis.

"Found" means the true record was auto-matched or shown for review;
"to a person" means the subject's outcome was ``candidate``. Targets are
issue 16's. Other engineers may share the 2 cores: timings are pessimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .matching_population import (
    PopulationSpec,
    Subject,
    index_records,
    make_subjects,
)
from .report import BenchReport, BenchRow
from ..schemas.identifiers import IdentifierSystem
from ..schemas.person import Person

NAME = "matching"

FULL_PEOPLE = 1_000_000
FULL_SUBJECTS = 5_000
QUICK_PEOPLE = 20_000
QUICK_SUBJECTS = 500
RULES_PEOPLE = 20_000
RULES_SUBJECTS = 50
SEED = 20261207
#: Processes computing features and blocking keys during the build (the index's ``workers=``);
#: SQLite writes stay in one. The target machine has 2 cores.
BUILD_WORKERS = 2
#: Set to a directory to keep the index, subjects, truth and outcomes of a run for diagnosis.
KEEP_ENV = "MASHLINK_BENCH_MATCHING_KEEP"
#: ``review_household`` thresholds the same index and subjects are searched again with (untimed),
#: beside the default policy's: the trade-off information-governance staff choose from (docs/matching.md).
REVIEW_SWEEP = (0.1, 0.2, 0.3, 0.5, 0.7)

#: (metric suffix, target text, predicate on the measured value) from issue 16.
TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "wrong_auto_members": ("0", lambda v: v == 0),
    "wrong_auto_nonmembers": ("0", lambda v: v == 0),
    "auto_correct_pct": (">= 90 %", lambda v: v >= 90),
    "found_pct": (">= 98 %", lambda v: v >= 98),
    "to_person_pct": ("<= 10 %", lambda v: v <= 10),
    "nonmembers_shown_pct": ("<= 1 %", lambda v: v <= 1),
    "unborn_found_pct": (">= 90 %", lambda v: v >= 90),
}
SCALE_TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "build_seconds": ("<= 120 s for 1,000,000 people", lambda v: v <= 120),
    "search_p99_ms": ("<= 50 ms", lambda v: v <= 50),
    "peak_rss_mb": ("<= 2,048 MB", lambda v: v <= 2048),
}


# --------------------------------------------------------------------------- outcomes and scoring


@dataclass(frozen=True, slots=True)
class Outcome:
    """One method's answer for one subject: the decision and the records shown, best first."""

    decision: str  # match / candidate / no_match
    record_ids: tuple[str, ...]
    probabilities: tuple[float, ...] = ()  # of record_ids, where the method gives them


#: Probability bands the calibration table groups shown candidates into.
CALIBRATION_BANDS = (0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0)


def calibration(subjects: Sequence[Subject], outcomes: dict[str, Outcome],
                bands: Sequence[float] = CALIBRATION_BANDS) -> dict[str, dict[str, float | int]]:
    """Of the candidates shown to a person, per probability band: how many, how many were the child, mean p.

    Calibrated probabilities put the share that were the child close to the mean probability. Only
    subjects sent to a person count (an automatic link's rivals are not a review's). A candidate under
    the first band's lower edge (a looser ``review``) falls in the first band.
    """
    rows = [{"low": lo, "high": hi, "shown": 0, "child": 0, "p_sum": 0.0} for lo, hi in zip(bands, bands[1:])]
    for s in subjects:
        o = outcomes.get(s.subject_id)
        if o is None or o.decision != "candidate":
            continue
        for rid, p in zip(o.record_ids, o.probabilities):
            row = next((r for r in rows if p < r["high"]), rows[-1])
            row["shown"] += 1
            row["child"] += rid == s.true_record_id
            row["p_sum"] += p
    return {f"{r['low']:g}-{r['high']:g}": {
        "shown": r["shown"], "child": r["child"],
        "child_pct": round(100.0 * r["child"] / r["shown"], 1) if r["shown"] else 0.0,
        "mean_p_pct": round(100.0 * r["p_sum"] / r["shown"], 1) if r["shown"] else 0.0} for r in rows}


def evaluate(subjects: Sequence[Subject], outcomes: dict[str, Outcome]) -> dict[str, float | int]:
    """Issue 16's figures for one method over the subjects it answered."""
    subjects = [s for s in subjects if s.subject_id in outcomes]
    members = [s for s in subjects if s.is_member]
    nonmembers = [s for s in subjects if not s.is_member]
    unborn = [s for s in members if s.kind == "member_unborn"]

    def auto_right(s: Subject) -> bool:
        o = outcomes[s.subject_id]
        return o.decision == "match" and bool(o.record_ids) and o.record_ids[0] == s.true_record_id

    def found(s: Subject) -> bool:
        o = outcomes[s.subject_id]
        return auto_right(s) or (o.decision == "candidate" and s.true_record_id in o.record_ids)

    def pct(n: int, d: int) -> float:
        return round(100.0 * n / d, 2) if d else 0.0

    return {
        "subjects": len(subjects),
        "members": len(members),
        "nonmembers": len(nonmembers),
        "wrong_auto_members": sum(1 for s in members if outcomes[s.subject_id].decision == "match"
                                  and not auto_right(s)),
        "wrong_auto_nonmembers": sum(1 for s in nonmembers if outcomes[s.subject_id].decision == "match"),
        "auto_correct_pct": pct(sum(map(auto_right, members)), len(members)),
        "found_pct": pct(sum(map(found, members)), len(members)),
        "to_person_pct": pct(sum(1 for s in subjects if outcomes[s.subject_id].decision == "candidate"),
                             len(subjects)),
        "nonmembers_shown_pct": pct(sum(1 for s in nonmembers if outcomes[s.subject_id].decision == "candidate"),
                                    len(nonmembers)),
        "unborn_found_pct": pct(sum(map(found, unborn)), len(unborn)),
    }


def breakdown(subjects: Sequence[Subject], outcomes: dict[str, Outcome]) -> dict[str, str]:
    """Per corruption and per kind: auto-matched correctly / found / wrong auto, so a miss can be traced."""
    groups: dict[str, list[Subject]] = defaultdict(list)
    for s in subjects:
        if s.subject_id not in outcomes:
            continue
        groups[f"kind:{s.kind}"].append(s)
        for tag in set(s.corruptions):
            groups[tag].append(s)
    out: dict[str, str] = {}
    for key in sorted(groups):
        m = evaluate(groups[key], outcomes)
        if m["members"]:
            out[key] = (f"n={m['members']} auto {m['auto_correct_pct']}% found {m['found_pct']}% "
                        f"wrong {m['wrong_auto_members']}")
        else:
            out[key] = (f"n={m['nonmembers']} non-members shown {m['nonmembers_shown_pct']}% "
                        f"wrong {m['wrong_auto_nonmembers']}")
    return out


def wrong_cases(subjects: Sequence[Subject], outcomes: dict[str, Outcome], limit: int = 12) -> str:
    """Subject ids, kinds and corruptions of wrong-person auto-matches (for whoever tunes the matcher)."""
    cases = []
    for s in subjects:
        o = outcomes.get(s.subject_id)
        if o and o.decision == "match" and (not s.is_member or o.record_ids[0] != s.true_record_id):
            cases.append(f"{s.subject_id}({s.kind}:{'+'.join(s.corruptions) or 'clean'}->{o.record_ids[0]})")
    return "; ".join(cases[:limit]) + (f"; ... {len(cases) - limit} more" if len(cases) > limit else "")


# --------------------------------------------------------------------------- exact-match baseline


def _norm(text: str | None) -> str:
    return "".join(ch for ch in (text or "").lower() if ch.isalpha())


def _trusted_nhs(person: Person) -> str | None:
    ident = person.identifier(IdentifierSystem.NHS_NUMBER)
    if ident is None or ident.check != "passed":
        return None
    return ident.value


def _name_key(person: Person) -> tuple[str, str, str] | None:
    name = person.official_name
    if name is None or not name.given or not name.family or person.birth_date is None:
        return None
    return _norm(name.given[0]), _norm(name.family), person.birth_date.value.isoformat()


class ExactBaseline:
    """NHS number, else given + family name + date of birth; built only for the keys the subjects carry.

    Restricting to the subjects' keys keeps the baseline from adding to the
    index's memory figure; the answers are the same as a full hash index's.
    """

    def __init__(self, subjects: Iterable[Person]) -> None:
        self._subjects = list(subjects)
        self._nhs_keys = {n for n in map(_trusted_nhs, self._subjects) if n}
        self._name_keys = {k for k in map(_name_key, self._subjects) if k}
        self.by_nhs: dict[str, list[str]] = defaultdict(list)
        self.by_name: dict[tuple[str, str, str], list[str]] = defaultdict(list)

    def see(self, record_id: str, person: Person) -> None:
        nhs = _trusted_nhs(person)
        if nhs and nhs in self._nhs_keys:
            self.by_nhs[nhs].append(record_id)
        key = _name_key(person)
        if key and key in self._name_keys:
            self.by_name[key].append(record_id)

    def answer(self, subject: Person) -> Outcome:
        nhs = _trusted_nhs(subject)
        if nhs and self.by_nhs.get(nhs):
            ids = self.by_nhs[nhs]
            return Outcome("match" if len(ids) == 1 else "candidate", tuple(ids))
        key = _name_key(subject)
        ids = self.by_name.get(key, []) if key else []
        if not ids:
            return Outcome("no_match", ())
        return Outcome("match" if len(ids) == 1 else "candidate", tuple(ids))


# --------------------------------------------------------------------------- child process: index + baseline


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_with_children() -> float:
    """CPU seconds of this process plus its finished children (the build's worker pool), user + system."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _worker(params_path: Path) -> None:
    """Build the index from the population stream, train it, search every subject; write one JSON result."""
    params = json.loads(params_path.read_text(encoding="utf-8"))
    spec = PopulationSpec(seed=params["seed"], people=params["people"])
    subjects: list[tuple[str, Person, Person | None, list[Person]]] = []
    with open(params["subjects"], encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            mother = Person.model_validate(row["mother"]) if row["mother"] else None
            others = [Person.model_validate(o) for o in row.get("others", [])]
            subjects.append((row["subject_id"], Person.model_validate(row["person"]), mother, others))
    exact = ExactBaseline(p for _, p, _, _ in subjects)
    gen_seconds = 0.0
    records = 0

    export = Path(params["db"] + ".export.jsonl")

    def write_export() -> None:
        """The agency's export: generated and written once, before the clock starts (not part of the build)."""
        nonlocal gen_seconds, records
        from ..matching.index import person_json

        t = time.perf_counter()
        with open(export, "w", encoding="utf-8") as fh:
            for rid, person in index_records(spec):
                exact.see(rid, person)
                fh.write(json.dumps([rid, person.mother_person_id, person_json(person)]) + "\n")
                records += 1
        gen_seconds = time.perf_counter() - t

    def chunks(size: int = 1000) -> Iterator[list[tuple[str, str | None, str]]]:
        chunk: list[tuple[str, str | None, str]] = []
        with open(export, encoding="utf-8") as fh:
            for line in fh:
                rid, mother, text = json.loads(line)
                chunk.append((rid, mother, text))
                if len(chunk) >= size:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    def stream() -> Iterator[tuple[str, Person]]:
        nonlocal records
        for rid, person in index_records(spec):
            exact.see(rid, person)
            records += 1
            yield rid, person

    out: dict = {"index": {"available": False}, "candidate": {}, "exact": {}, "search_ms": []}
    rss_start = _rss_mb()
    try:
        from ..matching.index import MatchIndex
    except ImportError as exc:  # the index engineer's part has not landed yet
        out["index"]["message"] = f"matching.index.MatchIndex is not importable yet ({exc}); baselines only"
        for _ in stream():
            pass
    else:
        from ..matching.index import prepare_json_chunks

        db = Path(params["db"])
        workers = int(params.get("workers", 1))
        try:
            write_export()
            start, cpu = time.perf_counter(), _cpu_with_children()
            with MatchIndex.create(db) as index:
                index.add_prepared(prepare_json_chunks(chunks(), workers))
                add_seconds = time.perf_counter() - start
                add_cpu = _cpu_with_children() - cpu
                rss_built = _rss_mb()
                start, cpu = time.perf_counter(), time.process_time()
                index.train()
                train_seconds = time.perf_counter() - start
                train_cpu = time.process_time() - cpu
                rss_trained = _rss_mb()
                out["search_cpu_ms"] = []
                out["alone"] = {}
                for sid, person, mother, others in subjects:
                    t, c = time.perf_counter(), time.process_time()
                    outcome = index.search(person, mother=mother, others=others)
                    out["search_ms"].append((time.perf_counter() - t) * 1000.0)
                    out["search_cpu_ms"].append((time.process_time() - c) * 1000.0)
                    out["candidate"][sid] = [
                        str(outcome.outcome),
                        [[r.record_id, str(r.pair.decision), round(r.pair.probability, 6)] for r in outcome.results],
                    ]
                # The same subjects with no household on the referral (not timed): what the
                # referral's other people add.
                for sid, person, mother, _others in subjects:
                    outcome = index.search(person, mother=mother)
                    out["alone"][sid] = [str(outcome.outcome),
                                         [[r.record_id, round(r.pair.probability, 6)] for r in outcome.results]]
                default_policy = index.policy
                out["review_sweep"] = {}
                for review in (r for r in REVIEW_SWEEP if r != default_policy.review_household):
                    index.set_policy(default_policy.model_copy(update={"review_household": review}))
                    swept = out["review_sweep"][str(review)] = {}
                    for sid, person, mother, others in subjects:
                        outcome = index.search(person, mother=mother, others=others)
                        swept[sid] = [str(outcome.outcome),
                                      [[r.record_id, round(r.pair.probability, 6)] for r in outcome.results]]
                index.set_policy(default_policy)
                out["default_review"] = default_policy.review_household
                size = len(index)
            out["index"] = {
                "available": True, "records": size, "workers": workers, "add_seconds": add_seconds, "train_seconds": train_seconds,
                "add_cpu_seconds": add_cpu, "train_cpu_seconds": train_cpu,
                "rss_start_mb": rss_start, "rss_built_mb": rss_built, "rss_trained_mb": rss_trained,
                "db_mb": db.stat().st_size / 1e6,
            }
        except Exception as exc:  # report it beside the baselines rather than lose the whole run
            out["index"] = {"available": False, "message": f"MatchIndex failed: {type(exc).__name__}: {exc}"}
            if not records:  # the export never ran: the exact baseline must still see everyone
                for _ in stream():
                    pass
        finally:
            export.unlink(missing_ok=True)
    out["generate_seconds"] = gen_seconds
    out["records_streamed"] = records
    out["peak_rss_mb"] = _rss_mb()
    for sid, person, _mother, _others in subjects:
        o = exact.answer(person)
        out["exact"][sid] = [o.decision, list(o.record_ids)]
    Path(params["out"]).write_text(json.dumps(out), encoding="utf-8")


@dataclass
class WorkerResult:
    index: dict
    candidate: dict[str, Outcome]
    exact: dict[str, Outcome]
    search_ms: list[float]
    generate_seconds: float
    records_streamed: int
    peak_rss_mb: float
    wall_seconds: float
    search_cpu_ms: list[float]
    alone: dict[str, Outcome]
    review_sweep: dict[float, dict[str, Outcome]]
    default_review: float | None


def run_worker(spec: PopulationSpec, subjects: Sequence[Subject], workdir: Path, tag: str) -> WorkerResult:
    """Run ``_worker`` in a fresh interpreter (its peak RSS is then the index's own)."""
    subjects_path = workdir / f"{tag}-subjects.jsonl"
    with open(subjects_path, "w", encoding="utf-8") as fh:
        for s in subjects:
            fh.write(json.dumps({
                "subject_id": s.subject_id,
                "person": s.person.model_dump(mode="json", exclude_defaults=True),
                "mother": s.mother.model_dump(mode="json", exclude_defaults=True) if s.mother else None,
                "others": [o.model_dump(mode="json", exclude_defaults=True) for o in s.others],
            }) + "\n")
    params = {"seed": spec.seed, "people": spec.people, "subjects": str(subjects_path), "workers": BUILD_WORKERS,
              "db": str(workdir / f"{tag}.sqlite"), "out": str(workdir / f"{tag}-out.json")}
    for stale in (params["db"], params["db"] + "-wal", params["db"] + "-shm"):  # a kept directory's last run
        Path(stale).unlink(missing_ok=True)
    params_path = workdir / f"{tag}-params.json"
    params_path.write_text(json.dumps(params), encoding="utf-8")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mashlink.bench.matching", "--worker", str(params_path)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"matching bench worker failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    data = json.loads(Path(params["out"]).read_text(encoding="utf-8"))
    candidate = {sid: Outcome(d, tuple(r[0] for r in rs), tuple(r[2] for r in rs))
                 for sid, (d, rs) in data["candidate"].items()}
    exact = {sid: Outcome(d, tuple(rs)) for sid, (d, rs) in data["exact"].items()}
    alone = {sid: Outcome(d, tuple(r[0] for r in rs), tuple(r[1] for r in rs))
             for sid, (d, rs) in data.get("alone", {}).items()}
    sweep = {float(review): {sid: Outcome(d, tuple(r[0] for r in rs), tuple(r[1] for r in rs))
                             for sid, (d, rs) in outcomes.items()}
             for review, outcomes in data.get("review_sweep", {}).items()}
    return WorkerResult(data["index"], candidate, exact, data["search_ms"], data["generate_seconds"],
                        data["records_streamed"], data["peak_rss_mb"], wall, data.get("search_cpu_ms", []), alone,
                        sweep, data.get("default_review"))


# --------------------------------------------------------------------------- review decisions as labels


def review_loop(db: Path, subjects: Sequence[Subject], outcomes: dict[str, Outcome]
                ) -> tuple[list[Subject], dict[str, Outcome], int, int]:
    """The first half's reviews become labels; the second half is searched again after ``train_from_labels``.

    A reviewer decides every candidate shown for a subject sent to a person (the truth stands in for
    their decision). Returns the held-out subjects, their outcomes after the labels, and the counts of
    confirmed and rejected labels. The index at ``db`` is changed (the worker is done with it).
    """
    from ..matching.index import MatchIndex
    from ..matching.labels import ReviewLabel

    half = len(subjects) // 2
    labels = [
        ReviewLabel(subject=s.person, mother=s.mother, agency_id="bench", record_id=rid,
                    confirmed=rid == s.true_record_id)
        for s in subjects[:half] if s.subject_id in outcomes and outcomes[s.subject_id].decision == "candidate"
        for rid in outcomes[s.subject_id].record_ids
    ]
    held_out = list(subjects[half:])
    after: dict[str, Outcome] = {}
    with MatchIndex.open(db) as index:
        report = index.train_from_labels(labels)
        for s in held_out:
            found = index.search(s.person, mother=s.mother, others=s.others)
            after[s.subject_id] = Outcome(str(found.outcome), tuple(r.record_id for r in found.results),
                                          tuple(r.pair.probability for r in found.results))
    return held_out, after, report.confirmed, report.rejected


def _calibration_rows(label: str, bands: dict[str, dict[str, float | int]], below: float = 1.0) -> list[BenchRow]:
    """One row per band with candidates shown (only bands starting under ``below``)."""
    return [BenchRow(label=f"{label}: shown at p {band}, share that were the child", value=b["child_pct"], unit="%",
                     note=f"{b['child']} of {b['shown']} shown; mean probability {b['mean_p_pct']} %")
            for band, b in bands.items() if b["shown"] and float(band.split("-")[0]) < below]


def _calibration_metrics(prefix: str, bands: dict[str, dict[str, float | int]]) -> dict[str, float | int]:
    """``calibration``'s table as flat metrics: ``<prefix>_calibration_<band>_<figure>``."""
    return {f"{prefix}_calibration_{band}_{key}": value
            for band, figures in bands.items() for key, value in figures.items()}


# --------------------------------------------------------------------------- rules full scan


def rules_full_scan(spec: PopulationSpec, subjects: Sequence[Subject]) -> tuple[dict[str, Outcome], list[float]]:
    """``match_person`` against every record: the outcome is the best record's decision."""
    from ..matching.rules import MatchDecision, match_person

    records = list(index_records(spec))
    by_id = dict(records)
    outcomes: dict[str, Outcome] = {}
    latencies: list[float] = []
    for s in subjects:
        start = time.perf_counter()
        scored: list[tuple[float, str, MatchDecision]] = []
        for rid, record in records:
            record_mother = by_id.get(record.mother_person_id or "") if record.unborn else None
            result = match_person(s.person, record, subject_mother=s.mother, record_mother=record_mother)
            if result.decision is not MatchDecision.NO_MATCH:
                scored.append((result.confidence, rid, result.decision))
        scored.sort(key=lambda t: -t[0])
        latencies.append((time.perf_counter() - start) * 1000.0)
        if not scored:
            outcomes[s.subject_id] = Outcome("no_match", ())
        else:
            outcomes[s.subject_id] = Outcome(str(scored[0][2]), tuple(rid for _, rid, _ in scored))
    return outcomes, latencies


# --------------------------------------------------------------------------- report


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))]


def _rows(label: str, figures: dict[str, float | int], targets: bool) -> list[BenchRow]:
    units = {"wrong_auto_members": "subjects", "wrong_auto_nonmembers": "subjects"}
    names = {
        "wrong_auto_members": "wrong person auto, members",
        "wrong_auto_nonmembers": "wrong person auto, non-members",
        "auto_correct_pct": "auto-matched correctly",
        "found_pct": "found (auto + review)",
        "to_person_pct": "sent to a person",
        "nonmembers_shown_pct": "non-members shown",
        "unborn_found_pct": "unborn found",
    }
    rows = []
    for key, text in names.items():
        value = figures[key]
        note = ""
        if targets:
            target, ok = TARGETS[key]
            note = f"{target}: {'met' if ok(value) else 'NOT met'}"
        rows.append(BenchRow(label=f"{label}: {text}", value=float(value), unit=units.get(key, "%"), note=note))
    return rows


def run(quick: bool = False) -> BenchReport:
    people = QUICK_PEOPLE if quick else FULL_PEOPLE
    count = QUICK_SUBJECTS if quick else FULL_SUBJECTS
    spec = PopulationSpec(seed=SEED, people=people)
    start = time.perf_counter()
    subjects = make_subjects(spec, count)
    subjects_seconds = time.perf_counter() - start

    rules_spec = PopulationSpec(seed=SEED, people=RULES_PEOPLE)
    rules_subjects = (subjects if rules_spec == spec else make_subjects(rules_spec, QUICK_SUBJECTS))[:RULES_SUBJECTS]

    keep = os.environ.get(KEEP_ENV)
    with tempfile.TemporaryDirectory(prefix="mashlink-bench-matching-") as tmp:
        workdir = Path(keep) if keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        main = run_worker(spec, subjects, workdir, "main")
        loop = review_loop(workdir / "main.sqlite", subjects, main.candidate) if main.index.get("available") else None
        small = main if rules_spec == spec else run_worker(rules_spec, rules_subjects, workdir, "rules")
        if keep:
            with open(workdir / "main-truth.jsonl", "w", encoding="utf-8") as fh:
                for s in subjects:
                    fh.write(json.dumps({"subject_id": s.subject_id, "true_record_id": s.true_record_id,
                                         "kind": s.kind, "corruptions": list(s.corruptions),
                                         "source_id": s.source_id}) + "\n")
    rules_outcomes, rules_ms = rules_full_scan(rules_spec, rules_subjects)

    metrics: dict = {
        "people_indexed": main.records_streamed,
        "subjects": len(subjects),
        "members": sum(1 for s in subjects if s.is_member),
        "nonmembers": sum(1 for s in subjects if not s.is_member),
        "unborn_subjects": sum(1 for s in subjects if s.kind == "member_unborn"),
        "subject_kinds": dict(Counter(s.kind for s in subjects)),
        "generate_subjects_seconds": round(subjects_seconds, 2),
        "generate_population_seconds": round(main.generate_seconds, 2),
        "worker_wall_seconds": round(main.wall_seconds, 2),
    }
    rows: list[BenchRow] = []
    exact = evaluate(subjects, main.exact)
    index_ok = bool(main.index.get("available"))
    description = (f"{main.records_streamed:,} people indexed, {len(subjects):,} referral subjects "
                   f"({metrics['nonmembers']:,} not in the index); targets from issue 16")
    if index_ok:
        cand = evaluate(subjects, main.candidate)
        metrics.update({f"candidate_{k}": v for k, v in cand.items() if k in TARGETS})
        metrics["candidate_by_corruption"] = breakdown(subjects, main.candidate)
        metrics["candidate_wrong_cases"] = wrong_cases(subjects, main.candidate)
        rows += _rows("MatchIndex", cand, targets=True)
        bands = calibration(subjects, main.candidate)
        metrics.update(_calibration_metrics("candidate", bands))
        rows += _calibration_rows("MatchIndex", bands)
        if main.alone:
            alone = evaluate(subjects, main.alone)
            metrics.update({f"candidate_alone_{k}": v for k, v in alone.items() if k in TARGETS})
            metrics["candidate_alone_wrong_cases"] = wrong_cases(subjects, main.alone)
            rows += [r.model_copy(update={"note": "same index and subjects; the referral's household not given"})
                     for r in _rows("MatchIndex, subject alone", alone, targets=False)]
            # Without the household nothing lifts the right child out of the low band: how often is it there?
            alone_bands = calibration(subjects, main.alone)
            metrics.update(_calibration_metrics("candidate_alone", alone_bands))
            rows += _calibration_rows("MatchIndex, subject alone", alone_bands, below=0.5)
        if loop is not None:
            held_out, after, confirmed, rejected = loop
            for tag, outcomes in (("before", main.candidate), ("after", after)):
                held = evaluate(held_out, outcomes)
                metrics.update({f"candidate_labels_{tag}_{k}": v for k, v in held.items() if k in TARGETS})
                metrics.update(_calibration_metrics(f"candidate_labels_{tag}", calibration(held_out, outcomes)))
                note = (f"held-out {len(held_out):,} subjects; labels: {confirmed} confirmed, {rejected} rejected "
                        f"reviews of the other half")
                label = "MatchIndex, held-out half, " + ("before labels" if tag == "before" else "after labels")
                rows += [r.model_copy(update={"note": note, "label": r.label.replace("MatchIndex", label)})
                         for r in _rows("MatchIndex", held, targets=False)]
        for review, outcomes in sorted(main.review_sweep.items()):
            swept = evaluate(subjects, outcomes)
            metrics.update({f"candidate_review_household_{review}_{k}": v for k, v in swept.items() if k in TARGETS})
            note = f"policy review_household {review} (default {main.default_review}); same index and subjects"
            rows += [r.model_copy(update={"note": note,
                                          "label": r.label.replace("MatchIndex", f"MatchIndex, review_household {review}")})
                     for r in _rows("MatchIndex", swept, targets=False)]
            if review == min(main.review_sweep) and main.default_review is not None and review < main.default_review:
                # What the default hides: how often the candidates under it were the child.
                low = calibration(subjects, outcomes, bands=(review, *(b for b in CALIBRATION_BANDS if b > review)))
                metrics.update(_calibration_metrics(f"candidate_review_household_{review}", low))
                rows += _calibration_rows(f"MatchIndex, review_household {review}", low, below=main.default_review)
        build = main.index["add_seconds"] + main.index["train_seconds"]
        scale = {
            "build_seconds": round(build, 2),
            "add_seconds": round(main.index["add_seconds"], 2),
            "train_seconds": round(main.index["train_seconds"], 2),
            "search_p50_ms": round(statistics.median(main.search_ms), 3) if main.search_ms else 0.0,
            "search_p99_ms": round(_percentile(main.search_ms, 99), 3),
            "search_max_ms": round(max(main.search_ms, default=0.0), 3),
            "build_cpu_seconds": round(main.index["add_cpu_seconds"] + main.index["train_cpu_seconds"], 2),
            "search_p50_cpu_ms": round(statistics.median(main.search_cpu_ms), 3) if main.search_cpu_ms else 0.0,
            "search_p99_cpu_ms": round(_percentile(main.search_cpu_ms, 99), 3),
            "peak_rss_mb": round(main.peak_rss_mb, 1),
            "rss_after_add_mb": round(main.index["rss_built_mb"], 1),
            "index_file_mb": round(main.index["db_mb"], 1),
        }
        metrics.update(scale)
        for key, unit, label in (
            ("build_seconds", "s", "build, add + train"),
            ("add_seconds", "s", f"load from the export, {main.index.get('workers', 1)} workers"),
            ("train_seconds", "s", "train"),
            ("search_p50_ms", "ms", "search p50"),
            ("search_p99_ms", "ms", "search p99"),
            ("build_cpu_seconds", "s", "build, CPU time incl. workers"),
            ("search_p50_cpu_ms", "ms", "search p50, CPU time"),
            ("search_p99_cpu_ms", "ms", "search p99, CPU time"),
            ("peak_rss_mb", "MB", "peak RSS, index process"),
            ("index_file_mb", "MB", "SQLite file"),
        ):
            note = ""
            if key in SCALE_TARGETS:
                target, ok = SCALE_TARGETS[key]
                note = f"{target}: {'met' if ok(scale[key]) else 'NOT met'}"
                if quick:
                    note += " (target is for 1M)"
            elif key == "build_cpu_seconds":
                note = "index process and its build workers (cores are shared)"
            elif "cpu" in key:
                note = "index process only (cores are shared)"
            rows.append(BenchRow(label=f"MatchIndex: {label}", value=scale[key], unit=unit, note=note))
        targets = {f"candidate_{k}": t for k, (t, _) in TARGETS.items()}
        targets.update({k: t for k, (t, _) in SCALE_TARGETS.items()})
    else:
        message = main.index.get("message", "MatchIndex unavailable")
        metrics["candidate_unavailable"] = message
        description += f"; CANDIDATE NOT MEASURED: {message}"
        targets = {}
    metrics.update({f"exact_{k}": v for k, v in exact.items() if k in TARGETS})
    metrics["exact_wrong_cases"] = wrong_cases(subjects, main.exact)
    rows += _rows("exact baseline", exact, targets=False)
    rows.append(BenchRow(label="generating the population", value=main.generate_seconds, unit="s",
                         note=f"{main.records_streamed:,} Person records (not in build)"))

    rules = evaluate(rules_subjects, rules_outcomes)
    note = f"{len(rules_subjects)} subjects, scan of {RULES_PEOPLE // 1000}k"
    metrics.update({f"rules_{k}": v for k, v in rules.items() if k in TARGETS})
    metrics["rules_scan_p50_ms"] = round(statistics.median(rules_ms), 1) if rules_ms else 0.0
    rows += [r.model_copy(update={"note": note}) for r in _rows("rules full scan", rules, targets=False)]
    rows.append(BenchRow(label="rules full scan: latency p50", value=metrics["rules_scan_p50_ms"],
                         unit="ms", note=note))
    if small.index.get("available"):
        same = evaluate(rules_subjects, small.candidate)
        metrics.update({f"candidate_on_rules_sample_{k}": v for k, v in same.items() if k in TARGETS})
        rows += [r.model_copy(update={"note": f"the rules' {len(rules_subjects)} subjects"})
                 for r in _rows("MatchIndex, rules sample", same, targets=False)]
    return BenchReport(name=NAME, description=description, rows=rows, metrics=metrics, targets=targets)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="matching bench worker (run by bench/matching.py)")
    parser.add_argument("--worker", type=Path, required=True)
    args = parser.parse_args(argv)
    _worker(args.worker)


if __name__ == "__main__":
    main()
