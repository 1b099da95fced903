"""``mashlink social-care ...``: ingest extracts into the connector's index, search it.

Translating CIN census and SSDA903 extracts is ``mashlink translate cin|ssda903
FILE... [--la CODE]`` (streamed, flat memory, never partial output, progress
on a terminal). A second ``social-care translate`` did the same with its own
summary wording; it was removed so there is one command (issue 17).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .index import SocialCareIndex
from ...schemas.identifiers import Identifier, IdentifierSystem
from ...schemas.person import BirthDate, HumanName, Person


def _err(message: str) -> None:
    typer.echo(message, err=True)


def register(app: typer.Typer) -> None:
    sc = typer.Typer(help="Children's social care index: ingest CIN census / SSDA903 extracts, search "
                           "(translate them with `mashlink translate cin|ssda903`).", no_args_is_help=True)

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
