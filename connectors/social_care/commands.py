"""``mashlink social-care ...``: streaming translate, ingest into the index, search.

``social-care translate cin|ssda903 FILE...`` is the streaming counterpart of
``mashlink translate``: records are written as they are translated (flat
memory for a 1 GB census) into a temporary file that is published only when
the run is usable, so stdout / ``--output`` never holds a partial result.
SSDA903 CSV files given together are joined on CHILD. Rejected records go to
stderr (file, record, LA child id or UPN, field, rule; never a value) with a
summary; exit status 1 only when nothing usable was read (or ``--strict``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .cin import CinReader
from .index import SocialCareIndex
from .ssda903 import Ssda903Reader
from ...mapping.stream import translate_to
from ...mapping import SpecErrors, load_spec
from ...mapping.formats import mappings_dir
from ...schemas.identifiers import Identifier, IdentifierSystem
from ...schemas.person import BirthDate, HumanName, Person

FORMATS = {"cin": "cin.yaml", "ssda903": "ssda903.yaml"}


def _err(message: str) -> None:
    typer.echo(message, err=True)


def register(app: typer.Typer) -> None:
    sc = typer.Typer(help="Children's social care extracts (CIN census, SSDA903).", no_args_is_help=True)

    @sc.command("translate")
    def translate(
        fmt: str = typer.Argument(..., metavar="FORMAT", help="cin or ssda903"),
        files: list[Path] = typer.Argument(..., metavar="FILE...", help="Input files (an SSDA903 CSV set together)"),
        output: Path = typer.Option(None, "--output", "-o", help="Write here (atomically) instead of stdout."),
        spec: Path = typer.Option(None, "--spec", help="Use this mapping spec instead of the default."),
        la: str = typer.Option(None, "--la", help="LA code scoping LA child ids when the file has none."),
        jsonl: bool = typer.Option(False, "--jsonl", help="One JSON record per line."),
        strict: bool = typer.Option(False, "--strict", help="Any rejected record or unreadable file fails the run."),
        exclude_none: bool = typer.Option(False, "--exclude-none", help="Leave out empty (null) fields."),
    ) -> None:
        """Translate CIN census / SSDA903 extracts into canonical AgencyRecord JSON, streaming."""
        if fmt not in FORMATS:
            _err(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
            raise typer.Exit(2)
        try:
            mapping = load_spec(spec or mappings_dir() / FORMATS[fmt])
        except SpecErrors as exc:
            _err(f"mapping spec has {len(exc.errors)} error(s):")
            for error in exc.errors:
                _err(f"  {error}")
            raise typer.Exit(2) from None
        reader = CinReader(la_code=la) if fmt == "cin" else Ssda903Reader(la_code=la)
        summary = translate_to(mapping, reader, files, output, jsonl=jsonl, exclude_none=exclude_none,
                               strict=strict, on_reject=lambda e: _err(str(e)))
        for warning in summary.warnings:
            _err(f"warning: {warning}")
        for error in summary.file_errors:
            _err(f"cannot read {error}")
        _err(f"{mapping.name}: {summary.accepted} record(s) accepted ({summary.flagged} with flagged issues), "
             f"{summary.rejected} rejected"
             + (f", {len(summary.file_errors)} file(s) unreadable" if summary.file_errors else ""))
        if not summary.usable or (strict and (summary.rejected or summary.file_errors)):
            raise typer.Exit(1)

    @sc.command("ingest")
    def ingest(
        state_dir: Path = typer.Option(..., "--state-dir", help="Index folder of the connector."),
        la: str = typer.Option(..., "--la", help="This LA's code."),
        inbox: Path = typer.Option(None, "--inbox", help="Drop folder to load (files move to processed/rejected)."),
        fmt: str = typer.Option(None, "--format", help="cin or ssda903 for FILE... (default: detected)"),
        files: list[Path] = typer.Argument(None, metavar="FILE..."),
    ) -> None:
        """Load extracts into the connector's index (idempotent)."""
        index = SocialCareIndex(state_dir, la_code=la)
        results = index.ingest_folder(inbox) if inbox else []
        if files:
            from .index import sniff_format

            kind = fmt or sniff_format(files[0]) or "cin"
            results.append(index.ingest(files, kind))
        ok = False
        for r in results:
            for line in r.rejections + r.errors:
                _err(line)
            state = "already loaded" if r.skipped else f"{r.accepted} accepted, {r.rejected} rejected"
            _err(f"{', '.join(r.files)} ({r.format}): {state}" + (f"; moved to {r.moved_to}" if r.moved_to else ""))
            ok = ok or r.usable
        if not ok:
            raise typer.Exit(1)

    @sc.command("search")
    def search(
        state_dir: Path = typer.Option(..., "--state-dir"),
        la: str = typer.Option(..., "--la"),
        la_child_id: str = typer.Option(None, "--la-child-id"),
        nhs: str = typer.Option(None, "--nhs-number"),
        upn: str = typer.Option(None, "--upn"),
        given: str = typer.Option(None, "--given"),
        family: str = typer.Option(None, "--family"),
        dob: str = typer.Option(None, "--dob", help="YYYY-MM-DD"),
    ) -> None:
        """Find a child in the index (prints matches and candidates as JSON)."""
        from .connector import SocialCareConnector

        ids = []
        if la_child_id:
            ids.append(Identifier(system=IdentifierSystem.LA_CHILD_ID, value=la_child_id, scope=la))
        if nhs:
            ids.append(Identifier(system=IdentifierSystem.NHS_NUMBER, value=nhs))
        if upn:
            ids.append(Identifier(system=IdentifierSystem.UPN, value=upn))
        names = [HumanName(given=[given] if given else [], family=family)] if (given or family) else []
        subject = Person(person_id="subject", identifiers=ids, names=names,
                         birth_date=BirthDate(value=dob) if dob else None)
        connector = SocialCareConnector("cli", SocialCareIndex(state_dir, la_code=la), la_code=la)
        hits = connector.search(subject)
        typer.echo(json.dumps([{"record_id": h.record.source.record_id, "decision": h.result.decision.value,
                                "method": h.result.method.value, "confidence": h.result.confidence,
                                "findings": len(h.record.findings) if h.confirmed else 0} for h in hits], indent=2))

    app.add_typer(sc, name="social-care")
