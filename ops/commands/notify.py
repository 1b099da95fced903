"""``mashlink notify-referrers``: tell referrers the outcome, until SIGTERM/SIGINT.

Consumes the ``referrer.outcomes`` queue (the hub publishes an ``Outcome``
there for every decision whose notify list names the referrer), renders each
from the outcome type's template and delivers it by the channel configured
for that referrer (``referrer_notify`` in the configuration: email over SMTP
or a signed web hook). A delivered outcome is recorded in
``<state_dir>/referrer/receipts.jsonl`` and then acknowledged; a failed one
is retried with back-off and parked with the reason (``mashlink dlq list``,
``mashlink dlq replay``). ``--check`` renders every template and prints the
channel configuration summary without consuming.

Broker: run it as its own least-privilege user (``referrer-notifier``,
``mashlink broker permissions`` / ``deploy/rabbitmq-init.sh``): it only
checks that ``referrer.outcomes`` exists (the hub declares it; until then it
retries, naming the queue), reads that queue, publishes ``receipt.referrer``
and parks through the dead-letter exchange.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import typer


def register(app: typer.Typer) -> None:
    @app.command("notify-referrers")
    def notify_referrers(
        file: Path | None = typer.Option(None, "--file", "-f", help="YAML configuration file."),
        namespace: str = typer.Option(None, help="Broker topology namespace (default: settings broker_namespace)."),
        check: bool = typer.Option(False, "--check", help="Check templates and channels, then exit."),
    ) -> None:
        """Tell referrers the outcome of their referrals (consumes referrer.outcomes)."""
        from ...broker.topology import Topology
        from ...connectors.referrer.notifier import NotifierRunner, ReferrerNotifier, notifier_broker_factory
        from ...connectors.referrer.render import TemplateProblem
        from ...config.settings import REFERRER_NOTIFIER_ID
        from ..wiring import require_broker, require_signing_key, settings_or_exit, warn_if_in_process

        settings = settings_or_exit(file)  # exit 1 listing every configuration problem
        require_signing_key(settings, REFERRER_NOTIFIER_ID)  # signs receipts as itself, never as the hub
        config = settings.referrer_notify
        try:
            settings.ensure_state_dir()
            topology = Topology(namespace or settings.broker_namespace)
            notifier = ReferrerNotifier.from_settings(settings, topology=topology)
            missing = notifier.renderer.check()
            factory = notifier_broker_factory(settings, topology=topology)
        except (TemplateProblem, KeyError, OSError) as exc:
            typer.echo(f"cannot start the referrer notifier: {exc}", err=True)
            raise typer.Exit(2) from None
        if missing:
            typer.echo(f"cannot start the referrer notifier: no usable template for {', '.join(missing)} "
                       f"in {config.templates_path()}", err=True)
            raise typer.Exit(2)
        channels = config.channels
        summary = (f"channels: default={channels.default.kind if channels.default else 'none (park)'}, "
                   f"{len(channels.by_referrer)} by referrer; smtp {config.smtp.host}:{config.smtp.port} "
                   f"({config.smtp.security}); templates {config.templates_path()}")
        if check:
            typer.echo(f"referrer notifier configuration OK; {summary}")
            return
        warn_if_in_process(settings, "notify-referrers")
        require_broker(settings)  # one paragraph and exit 2 when the broker is unreachable
        stop = threading.Event()

        def _on_signal(signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        runner = NotifierRunner(notifier, factory)
        typer.echo(f"referrer notifier running ({summary}); SIGTERM or Ctrl-C to stop", err=True)
        runner.run(stop)
        stats = notifier.stats
        typer.echo(f"referrer notifier stopped: delivered {stats['delivered']}, duplicates {stats['duplicates']}, "
                   f"retried {stats['retried']}, parked {stats['parked']}", err=True)
