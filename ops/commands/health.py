"""``mashlink health ...``: an integration engineer's everyday tools for a trust connection.

* ``fhir-simulator``: a synthetic trust FHIR R4 server (patients, encounters,
  flags, caseloads, Tasks) to point a ``connector: fhir`` agency at;
* ``mllp-peer``: a synthetic trust HL7 v2 engine answering REF^I12 with
  RRI^I12, for a ``connector: hl7v2`` agency;
* ``sample-adt``: a synthetic ADT message for one of the seeded patients;
* ``send-hl7``: send HL7 v2 messages from a file over MLLP and print each
  acknowledgement (exit 1 if any was AE/AR), e.g. to the connector's ADT
  listener.

All data is synthetic (999-range NHS numbers, invented names).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import typer

MLLP_START, MLLP_END = b"\x0b", b"\x1c\x0d"


def split_messages(data: bytes) -> list[bytes]:
    """Messages in a file: MLLP frames, or ER7 text where each message starts with an ``MSH`` segment.

    Segment separators (CR, LF, CRLF) are normalised to CR, blank lines dropped.
    """
    if MLLP_START in data:
        frames = []
        for chunk in data.split(MLLP_START)[1:]:
            body = chunk.split(MLLP_END, 1)[0] if MLLP_END in chunk else chunk.rstrip(b"\x1c\r\n")
            if body.strip():
                frames.append(body)
        return frames
    segments = [s for s in data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n") if s.strip()]
    messages: list[list[bytes]] = []
    for segment in segments:
        if segment.startswith(b"MSH") or not messages:
            messages.append([])
        messages[-1].append(segment)
    return [b"\r".join(m) for m in messages]


def _logging(level: str) -> None:
    """Logs to stderr, so stdout carries only what the command prints (URLs, ACK lines)."""
    from ...config.logging import configure_logging

    configure_logging(level.upper())


def _wait_for_signal() -> None:
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    while not stop.wait(0.5):
        pass


def _tls_or_exit(tls: Any) -> Any:
    """The SSL context of a ``ServerTls``/``ClientTls``, or exit 2 naming the unusable file (never its contents)."""
    import ssl

    from ...connectors.health.tls import tls_problem

    missing = tls.missing_files()
    if missing:
        typer.echo("TLS: " + "; ".join(f"{name}: no such file: {path}" for name, path in missing), err=True)
        raise typer.Exit(2)
    try:
        return tls.context()
    except (OSError, ssl.SSLError) as exc:
        typer.echo(f"TLS: {tls_problem(exc)}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    health_app = typer.Typer(help="Health (NHS trust) connection tools: simulators and HL7 v2 over MLLP.",
                             no_args_is_help=True)

    @health_app.command("fhir-simulator")
    def fhir_simulator(
        host: str = typer.Option("127.0.0.1", help="Interface to bind."),
        port: int = typer.Option(8090, min=0, max=65535, help="TCP port (0: any free port)."),
        patients: int = typer.Option(12, min=1, max=10_000, help="Synthetic patients to seed."),
        seed: int = typer.Option(2024, help="Seed of the synthetic population."),
        token: str | None = typer.Option(None, help="Require this bearer token (answer 401 otherwise)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not list the seeded patients."),
        log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR (logs go to stderr)."),
    ) -> None:
        """Run a synthetic trust FHIR R4 server until SIGTERM or Ctrl-C."""
        from ...connectors.health.fhir_simulator import FhirStore, ThreadedFhirSimulator
        from ...connectors.health.simulators import seed_fhir_store

        _logging(log_level)

        store = FhirStore(token=token)
        seeded = seed_fhir_store(store, patients, seed)
        try:
            sim = ThreadedFhirSimulator(store, host=host, port=port).start()
        except OSError as exc:
            typer.echo(f"cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"FHIR R4 simulator at {sim.base_url} ({len(seeded)} synthetic patients"
                   f"{', bearer token required' if token else ''}); Ctrl-C to stop")
        if not quiet:
            for i, s in enumerate(seeded):
                p = s.patient
                typer.echo(f"  [{i}] {p.nhs_number}  {p.family}, {p.given}  {p.birth_date}  "
                           f"Patient/{s.fhir_id}  {' '.join(s.history) or '-'}")
        try:
            _wait_for_signal()
        finally:
            sim.stop()

    @health_app.command("mllp-peer")
    def mllp_peer(
        host: str = typer.Option("127.0.0.1", help="Interface to bind."),
        port: int = typer.Option(2575, min=0, max=65535, help="TCP port (0: any free port)."),
        patients: int = typer.Option(12, min=1, max=10_000, help="Synthetic patients the trust knows."),
        seed: int = typer.Option(2024, help="Seed of the synthetic population (same as fhir-simulator)."),
        log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR (logs go to stderr)."),
        tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Serve MLLP over TLS with this certificate."),
        tls_key: Path | None = typer.Option(None, "--tls-key", help="Private key for --tls-cert."),
        tls_client_ca: Path | None = typer.Option(None, "--tls-client-ca", help="Require client certificates from "
                                                                                 "this CA (mutual TLS)."),
    ) -> None:
        """Run a synthetic trust HL7 v2 engine that answers REF^I12 with RRI^I12, until Ctrl-C."""
        from ...connectors.health.mllp import ThreadedMllpServer
        from ...connectors.health.simulators import seeded_trust_peer

        _logging(log_level)

        peer = seeded_trust_peer(patients, seed)
        context = None
        if tls_cert is not None or tls_key is not None:
            from ...connectors.health.tls import ServerTls

            if tls_cert is None or tls_key is None:
                typer.echo("--tls-cert and --tls-key go together", err=True)
                raise typer.Exit(2)
            context = _tls_or_exit(ServerTls(cert_file=tls_cert, key_file=tls_key, client_ca_file=tls_client_ca))
        try:
            server = ThreadedMllpServer(peer, host, port, ssl_context=context).start()
        except OSError as exc:
            typer.echo(f"cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"MLLP trust peer on {server.host}:{server.port} answering REF^I12 "
                   f"({len(peer.by_nhs)} synthetic patients); Ctrl-C to stop")
        try:
            _wait_for_signal()
        finally:
            server.stop()
            typer.echo(f"answered {len(peer.received)} REF^I12 message(s)")

    @health_app.command("sample-adt")
    def sample_adt(
        index: int = typer.Option(0, min=0, help="Which seeded patient (as listed by fhir-simulator)."),
        trigger: str = typer.Option("A04", help="A01, A03, A04, A08, A28, A31 or A40."),
        emergency: bool = typer.Option(True, help="Emergency department visit (PV1-2 E)."),
        control_id: str = typer.Option("MSG00001", help="MSH-10 message control id."),
        patients: int = typer.Option(12, min=1, max=10_000),
        seed: int = typer.Option(2024),
        output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    ) -> None:
        """Print a synthetic ADT message about a seeded patient (one segment per line)."""
        from ...connectors.health.adt import TRIGGERS
        from ...connectors.health.simulators import seeded_patients
        from ...connectors.health.synthetic import adt_message

        trigger = trigger.upper()
        if trigger not in TRIGGERS:
            typer.echo(f"--trigger must be one of {', '.join(TRIGGERS)} (got {trigger!r})", err=True)
            raise typer.Exit(2)
        people = seeded_patients(patients, seed)
        if index >= len(people):
            typer.echo(f"--index must be below --patients ({len(people)})", err=True)
            raise typer.Exit(2)
        text = adt_message(people[index], trigger, control_id=control_id, emergency=emergency, separator="\n") + "\n"
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")

    @health_app.command("send-hl7")
    def send_hl7(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                    help="Messages: ER7 text (each starting with MSH) or MLLP frames."),
        host: str = typer.Option("127.0.0.1", help="MLLP listener host."),
        port: int = typer.Option(..., min=1, max=65535, help="MLLP listener port."),
        timeout: float = typer.Option(10.0, min=0.1, help="Seconds to wait for each acknowledgement."),
        raw: bool = typer.Option(False, "--raw", help="Print each acknowledgement in full."),
        log_level: str = typer.Option("WARNING", help="DEBUG, INFO, WARNING or ERROR (logs go to stderr)."),
        tls: bool = typer.Option(False, "--tls", help="MLLP over TLS (system CAs unless --tls-ca)."),
        tls_ca: Path | None = typer.Option(None, "--tls-ca", help="CA bundle for the listener's certificate."),
        tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Client certificate (mutual TLS)."),
        tls_key: Path | None = typer.Option(None, "--tls-key", help="Private key for --tls-cert."),
    ) -> None:
        """Send each message over one MLLP connection and print its ACK; exit 1 if any was AE/AR."""
        from ...connectors.health.hl7_ack import parse_ack
        from ...mapping.paths.hl7_er7 import Hl7ParseError, peek_header
        from ...connectors.health.mllp import MllpClient, MllpError

        _logging(log_level)

        messages = split_messages(file.read_bytes())
        if not messages:
            typer.echo(f"{file}: no HL7 messages found (each must start with an MSH segment)", err=True)
            raise typer.Exit(2)
        context = None
        if tls or tls_ca or tls_cert or tls_key:
            from pydantic import ValidationError

            from ...connectors.health.tls import ClientTls

            try:
                client_tls = ClientTls(ca_file=tls_ca, cert_file=tls_cert, key_file=tls_key)
            except ValidationError as exc:
                typer.echo(f"--tls-cert/--tls-key: {exc.errors()[0]['msg']}", err=True)
                raise typer.Exit(2) from None
            context = _tls_or_exit(client_tls)
        failures = 0
        try:
            with MllpClient(host, port, timeout=timeout, ssl_context=context) as client:
                for number, message in enumerate(messages, start=1):
                    sent_id = peek_header(message)[0] or "?"
                    reply = client.send(message)
                    try:
                        ack = parse_ack(reply)
                    except Hl7ParseError as exc:
                        failures += 1
                        typer.echo(f"{number}: {sent_id} -> unreadable acknowledgement ({exc})")
                        continue
                    ok = ack.code in ("AA", "CA")
                    failures += 0 if ok else 1
                    line = f"{number}: {sent_id} -> {ack.code or '?'} (MSA-2 {ack.control_id or '-'})"
                    if not ok:
                        line += f" ERR {ack.error_code or '-'}: {ack.error_message or ack.text or '-'}"
                    typer.echo(line)
                    if raw:
                        typer.echo(reply.replace("\r", "\n").rstrip("\n"))
        except MllpError as exc:
            typer.echo(f"MLLP {host}:{port}: {exc}", err=True)
            raise typer.Exit(2) from None
        except OSError as exc:
            typer.echo(f"MLLP {host}:{port}: {exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"sent {len(messages)}, accepted {len(messages) - failures}, failed {failures}", err=True)
        if failures:
            raise typer.Exit(1)

    app.add_typer(health_app, name="health")
