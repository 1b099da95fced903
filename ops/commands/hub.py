"""``mashlink hub``: run the MASH hub (HTTP API, outbox relay, consumers, deadline tracker)."""

from __future__ import annotations

from pathlib import Path

import typer



def register(app: typer.Typer) -> None:
    @app.command("hub")
    def hub(
        host: str = typer.Option(None, help="Bind address (default from settings: hub_http_host)."),
        port: int = typer.Option(None, help="Port (default from settings: hub_http_port)."),
        config: Path = typer.Option(None, "--config", help="YAML settings file (default MASHLINK_CONFIG)."),
        tick: float = typer.Option(1.0, help="Seconds between deadline checks."),
    ) -> None:
        """Run the hub until interrupted: API, outbox relay, response/event consumers, deadlines.

        Stopping (Ctrl-C / SIGTERM) finishes the batch in hand; nothing is lost:
        unpublished messages and due escalations are picked up on the next start.
        """
        from ...hub.dead_letters import BrokerDeadLetters
        from ...hub.runtime import HubRuntime
        from ..web.hub_app import build_hub_app
        from ..web.serving import serve
        from ...hub.wiring import hub_broker_factory
        from ..wiring import broker_readiness, open_hub, settings_or_exit

        settings = settings_or_exit(config)
        service = open_hub(settings)
        factory = hub_broker_factory(settings, service.topology)
        runtime = HubRuntime(service, factory, tick_interval_s=tick)
        runtime.start()

        def queue_stats():  # type: ignore[no-untyped-def]
            broker = factory()
            try:
                queues = service.topology.queues([a.id for a in settings.agencies])
                return broker.queue_stats([q.name for q in queues])
            finally:
                broker.close()

        try:
            dead_letters = BrokerDeadLetters(factory, [a.id for a in settings.agencies])
            serve(build_hub_app(service, queue_stats=queue_stats, dead_letters=dead_letters,
                                audit_check=lambda: runtime.audit_watch.last,
                                broker_ready=broker_readiness(settings)),
                  host=host or settings.hub_http_host, port=port or settings.hub_http_port)
        finally:
            runtime.stop()
            service.close()
