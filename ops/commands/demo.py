"""``mashlink demo``: the enquiry loop end to end on the embedded defaults."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.rule import Rule

from mashlink.ops.logging import configure_logging


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        json: bool = typer.Option(False, "--json", help="Print one JSON document (linked views, then counts)."),
        state_dir: Path = typer.Option(None, help="Keep the demo database here (default: a fresh temp dir)."),
        timeout: float = typer.Option(60.0, help="Give up waiting for answers after this many seconds."),
    ) -> None:
        """Run the hub and one simulated connector per agency kind in one process, push synthetic
        referrals (one red, one with an unborn child) through, and print each linked view.

        All data is synthetic. Exit status 0 only when every enquiry was answered and nothing was lost.
        """
        from mashlink.hub.linked_view import render_text
        from mashlink.ops.demo import run_demo

        configure_logging("WARNING")
        report = run_demo(state_dir=state_dir, timeout_s=timeout)
        if json:
            typer.echo(report.model_dump_json(indent=2))
        else:
            console = Console()
            for item in report.referrals:
                console.print(Rule(f"referral {item.referral_id}  RAG {item.rag.upper()}  ({item.status})"))
                typer.echo(render_text(item.linked_view))
            c = report.counts
            console.print(Rule("summary"))
            typer.echo(f"referrals {c.referrals}  enquiries {c.enquiries}  responses {c.responses}  "
                          f"answered {c.answered_enquiries}  parked {c.parked_messages}  "
                          f"unpublished {c.unpublished_outbox}  messages lost {c.messages_lost}  "
                          f"in {report.seconds:.1f}s")
        if not report.complete or report.counts.messages_lost:
            raise typer.Exit(1)
