"""``mashlink demo``: the enquiry loop end to end on the embedded defaults."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.rule import Rule

from ...config.logging import configure_logging


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        json: bool = typer.Option(False, "--json", help="Print one JSON document (linked views, then counts)."),
        state_dir: Path = typer.Option(None, help="Keep the demo database here (default: a fresh temp dir)."),
        timeout: float = typer.Option(60.0, help="Give up waiting for answers after this many seconds."),
        serve: bool = typer.Option(False, "--serve", help="Keep running and serve the workspace and API "
                                                          "(development sign-in links are printed)."),
        host: str = typer.Option("127.0.0.1", help="With --serve: bind address."),
        port: int = typer.Option(8080, min=0, max=65535, help="With --serve: port (0 picks a free one)."),
    ) -> None:
        """Run the hub and one simulated connector per agency kind in one process, push synthetic
        referrals (one red, one with an unborn child) through, and print each linked view.

        All data is synthetic. Exit status 0 only when every enquiry was answered and nothing was lost.
        """
        from ...hub.linked_view import render_text
        from ..demo import run_demo

        configure_logging("WARNING")
        if serve:
            _serve(state_dir, timeout, host, port)
            return
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


def _serve(state_dir: Path | None, timeout: float, host: str, port: int) -> None:
    """The demo loop, then the hub's web app over it until Ctrl-C / SIGTERM."""
    import socket
    import time

    from ..demo import DemoSystem
    from ..web.serving import serve

    started = time.monotonic()
    system = DemoSystem(state_dir=state_dir)
    try:
        system.start()
        complete = system.wait(started + timeout)
        counts = system.report(complete, time.monotonic() - started).counts
        typer.echo(f"demo data: {counts.referrals} referrals, {counts.answered_enquiries} of "
                   f"{counts.enquiries} enquiries answered, {counts.messages_lost} messages lost")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)  # connections queue from now on, even before uvicorn accepts them
        bound = sock.getsockname()[1]
        base = f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"
        typer.echo(f"\nmashlink workspace: {base}/workspace   (API docs: {base}/docs)")
        typer.echo("Sign in as (development issuer, synthetic data only):")
        for who, link in system.sign_in_links(base):
            typer.echo(f"  {who:<24} {link}")
        typer.echo("Ctrl-C stops.")
        serve(system.app(), sock=sock)
    finally:
        system.stop()
        system.close()
