"""``mashlink status``: queues, consumers, outstanding enquiries and the loop at a glance.

What an ops person checks first: are messages piling up, is every queue
consumed, which agencies have enquiries at risk or overdue by RAG, and
whether outcomes and alerts reached someone (undelivered / unacknowledged
outcomes, unacknowledged alerts, decisions at risk or overdue).
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table



def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(
        json: bool = typer.Option(False, "--json", help="One JSON document instead of tables."),
        config: Path = typer.Option(None, "--config", help="YAML settings file."),
    ) -> None:
        """Queue depths and consumers; open / at-risk / overdue enquiries by agency and RAG."""
        from ...config.settings import mask_url
        from ...hub.wiring import hub_broker_factory
        from ..wiring import PREFLIGHT_TIMEOUT_S, UNREACHABLE_EXIT, broker_problem, open_hub, settings_or_exit

        settings = settings_or_exit(config)  # checks the broker answers (exit 2 within 5 s otherwise)
        service = open_hub(settings)
        try:
            stats = service.open_enquiry_stats()
            loop = service.loop_counts()
        finally:
            service.close()
        queues: list[dict[str, object]] = []
        broker_error = None
        try:
            broker = hub_broker_factory(settings, service.topology)()
            try:
                broker.declare([a.id for a in settings.agencies])
                queues = [q.model_dump() for q in broker.queue_stats()]
            finally:
                broker.close()
        except Exception as exc:  # noqa: BLE001 - status must report an unreachable broker, not crash
            broker_error = str(broker_problem(settings, exc, PREFLIGHT_TIMEOUT_S))
        if json:
            typer.echo(jsonlib.dumps({"enquiries": stats.model_dump(mode="json"), "loop": loop.model_dump(mode="json"),
                                      "queues": queues, "broker_error": broker_error}, indent=2))
            if broker_error:
                raise typer.Exit(UNREACHABLE_EXIT)
            return
        console = Console()
        table = Table(title="Outstanding enquiries")
        for col in ("agency", "RAG", "open", "at risk", "overdue"):
            table.add_column(col, justify="right" if col in ("open", "at risk", "overdue") else "left")
        for row in stats.rows:
            table.add_row(row.agency_id, row.rag.value, str(row.open), str(row.at_risk), str(row.overdue))
        table.add_row("total", "", str(stats.total_open), str(stats.total_at_risk), str(stats.total_overdue))
        console.print(table)
        ltable = Table(title="Closing the loop")
        ltable.add_column("what")
        ltable.add_column("count", justify="right")
        for label, value in (
            ("outcomes not delivered", loop.outcomes_undelivered),
            ("outcomes not acknowledged", loop.outcomes_unacknowledged),
            ("outcomes failed", loop.outcomes_failed),
            ("acknowledgements at risk", loop.outcomes_acknowledgement_at_risk),
            ("acknowledgements overdue", loop.outcomes_acknowledgement_overdue),
            ("alerts not acknowledged", loop.alerts_unacknowledged),
            ("decisions at risk", loop.decisions_at_risk),
            ("decisions overdue", loop.decisions_overdue),
            ("team notifications pending", loop.notifications_pending),
            ("team notifications failed", loop.notifications_failed),
            ("referrals for transfer", loop.referrals_for_transfer),
        ):
            ltable.add_row(label, str(value))
        console.print(ltable)
        if broker_error:
            typer.echo(f"error: {broker_error}", err=True)
            raise typer.Exit(UNREACHABLE_EXIT)
        qtable = Table(title=f"Queues ({mask_url(settings.broker_url).split('@')[-1]})")
        qtable.add_column("queue")
        qtable.add_column("messages", justify="right")
        qtable.add_column("consumers", justify="right")
        for q in queues:
            qtable.add_row(str(q["name"]), str(q["messages"]), str(q["consumers"]))
        console.print(qtable)
