"""Plain-text rendering of a linked view for the CLI and the demo.

Written for a MASH practitioner: who the children and household are, which
agency records are linked to each (and how sure), what is still outstanding,
and one chronology in which every line names its agency, system and record.
Possible matches are printed in their own section, never inside the
chronology. The output contains personal data: print it to a practitioner's
terminal, never to logs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - import only for type checkers (avoids a cycle)
    from .linked_models import AgencyMatch, ChronologyEntry, LinkedSubject, LinkedView


def _when(value: date | datetime | None) -> str:
    if value is None:
        return "undated   "
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _match_line(match: "AgencyMatch", label: str) -> str:
    reasons = ", ".join(match.reasons[:6])
    who = f"; decided by {match.decided_by}" if match.decided_by else ""
    return (
        f"      {label:<10} {match.agency_id} ({match.source.system} {match.source.record_id}) "
        f"{match.method.value} {match.confidence:.2f} "
        f"[agency said {match.agency_method.value} {match.agency_confidence:.2f}; hub {match.hub_confidence:.2f}]"
        f" {match.finding_count} finding(s){who}"
        + (f"\n                 why: {reasons}" if reasons else "")
    )


def _person_lines(person: "LinkedSubject") -> list[str]:
    dob = ""
    if person.person.birth_date is not None:
        dob = f"  born {person.person.birth_date.value.isoformat()}"
        if person.person.birth_date.precision != "day":
            dob += f" ({person.person.birth_date.precision} only)"
    lines = [f"  [{person.person_id}] {person.display_name}{dob}"]
    for match in person.matches:
        lines.append(_match_line(match, "matched"))
    for match in person.candidates:
        lines.append(_match_line(match, "CANDIDATE") + "\n                 -> awaiting a person's decision")
    for match in person.rejected:
        lines.append(_match_line(match, "rejected") + "\n                 -> findings withheld")
    if not (person.matches or person.candidates or person.rejected):
        lines.append("      no agency records linked")
    return lines


def _entry_line(entry: "ChronologyEntry", names: dict[str, str]) -> str:
    if entry.subject_ref is None:
        who = f"UNLINKED agency person {entry.record_person_id}"
    else:
        who = f"[{entry.subject_ref}] {names.get(entry.subject_ref, '')}".rstrip()
    how = ""
    if entry.match_method is not None and entry.match_confidence is not None:
        how = f" via {entry.match_method.value} {entry.match_confidence:.2f}"
    flags = []
    if entry.candidate:
        flags.append("CANDIDATE")
    if entry.sensitivity.value != "standard":
        flags.append(entry.sensitivity.value)
    if entry.handling_code is not None:
        flags.append(f"handling {entry.handling_code.value}")
    if entry.redacted:
        flags.append("redacted")
    flag_text = f" [{' '.join(flags)}]" if flags else ""
    summary = entry.summary or "(no summary)"
    return (
        f"  {_when(entry.date)}  {entry.category.value}{flag_text}\n"
        f"      {summary}\n"
        + "".join(f"      DATA QUALITY: {text}\n" for text in entry.data_quality)
        + f"      about {who}{how}; source {entry.agency_id} / {entry.source_system} / {entry.record_id}"
        + (f"; contact {entry.contact}" if entry.contact else "")
    )


def render_text(view: "LinkedView") -> str:
    """A readable, plain-text linked view (no colours, safe to pipe)."""
    out: list[str] = [
        f"Referral {view.referral_id}   RAG {view.rag.value.upper()}   built {view.built_at.isoformat()}",
        "OFFICIAL-SENSITIVE",
        "",
        "Children",
    ]
    for person in view.subjects:
        out.extend(_person_lines(person))
    if view.household:
        out += ["", "Household"]
        for person in view.household:
            out.extend(_person_lines(person))
    out += ["", "Agencies"]
    for agency in view.agencies:
        parts = [f"  {agency.agency_id:<20} {agency.kind.value:<12} {agency.status.value:<18}"]
        if agency.due_at:
            parts.append(f"due {agency.due_at.isoformat()}")
        if agency.responded_at:
            parts.append(f"answered {agency.responded_at.isoformat()}")
        if agency.more_to_follow:
            parts.append("more to follow")
        if agency.overdue:
            parts.append("OVERDUE")
        if agency.declined_reason:
            parts.append(f"declined: {agency.declined_reason}")
        out.append("  ".join(parts))
    out.append(f"  outstanding: {', '.join(view.outstanding) if view.outstanding else 'none'}")
    names = {p.person_id: p.display_name for p in [*view.subjects, *view.household]}
    out += ["", f"Chronology ({len(view.chronology)})"]
    out.extend(_entry_line(e, names) for e in view.chronology)
    if not view.chronology:
        out.append("  nothing linked yet")
    if view.for_review:
        out += ["", f"For review: possible matches and unlinked records, NOT in the chronology ({len(view.for_review)})"]
        out.extend(_entry_line(e, names) for e in view.for_review)
    if view.record_issues:
        out += ["", f"Data-quality issues on agency records (kept as the agency recorded them) ({len(view.record_issues)})"]
        out.extend(f"  {n.agency_id} / {n.source_system} / {n.record_id}: {n.text}" for n in view.record_issues)
    if view.issues:
        out += ["", "Issues"]
        out.extend(f"  {i.code}: {i.agency_id or '-'} {i.detail}" for i in view.issues)
    return "\n".join(out) + "\n"
