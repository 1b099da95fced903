"""MLLP server and client over real TCP sockets: framing, ACK/NAK semantics, limits, timeouts."""

from __future__ import annotations

import socket
import time

import pytest

from mashlink.connectors.health.hl7_ack import parse_ack
from mashlink.mapping.paths.hl7_er7 import FastMessage, Hl7ParseError
from mashlink.connectors.health.hl7_receiver import Hl7Receiver
from mashlink.connectors.health.mllp import (
    END_BLOCK,
    START_BLOCK,
    FrameDecoder,
    Frame,
    Interrupted,
    MllpClient,
    MllpError,
    MllpSettings,
    Oversize,
    ThreadedMllpServer,
    frame,
)
from mashlink.connectors.health.synthetic import adt_message, synthetic_patients

PATIENTS = synthetic_patients(5, seed=11)


def _adt(i: int, **kw) -> str:  # type: ignore[no-untyped-def]
    kw.setdefault("control_id", f"CTRL{i:04d}")
    return adt_message(PATIENTS[i % len(PATIENTS)], **kw)


@pytest.fixture
def received() -> list[FastMessage]:
    return []


@pytest.fixture
def server(received):  # type: ignore[no-untyped-def]
    def on_message(msg: FastMessage) -> None:
        if not msg.has("PID"):
            raise Hl7ParseError("PID segment is required", code=101, segment="PID")
        if msg.value("PID", 8) == "X":
            raise RuntimeError("boom")
        received.append(msg)

    settings = MllpSettings(max_frame_bytes=4096, frame_timeout=0.6, idle_timeout=5, linger=0.5)
    with ThreadedMllpServer(Hl7Receiver(on_message), settings=settings) as srv:
        yield srv


def test_several_messages_on_one_connection_each_acked_in_order(server, received) -> None:
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:
        acks = [parse_ack(client.send(_adt(i))) for i in range(5)]
    assert [a.code for a in acks] == ["AA"] * 5
    assert [a.control_id for a in acks] == [f"CTRL{i:04d}" for i in range(5)]
    assert [m.control_id for m in received] == [f"CTRL{i:04d}" for i in range(5)]


def test_pipelined_frames_in_one_write_are_all_answered(server, received) -> None:
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:
        client.send_bytes(b"".join(frame(_adt(i)) for i in range(3)))
        acks = [parse_ack(client.receive()) for _ in range(3)]
    assert [a.control_id for a in acks] == ["CTRL0000", "CTRL0001", "CTRL0002"]
    assert all(a.accepted for a in acks)


def test_garbage_between_frames_is_skipped_not_fatal(server, received) -> None:
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:
        assert parse_ack(client.send(_adt(1))).code == "AA"
        client.send_bytes(b"\r\n\x00 some noise \x1c\r")
        assert parse_ack(client.send(_adt(2))).code == "AA"
    assert len(received) == 2


def test_not_hl7_gets_reject_with_err_and_connection_stays_open(server, received) -> None:
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:
        nak = parse_ack(client.send("this is not an HL7 message"))
        assert nak.code == "AR"
        assert nak.error_code == "100"
        assert "MSH" in nak.error_message
        assert parse_ack(client.send(_adt(3))).code == "AA"


def test_content_error_gets_ae_with_control_id_and_location(server, received) -> None:
    message = "MSH|^~\\&|PAS|RXX01|MASH|LA999|20240301101500||ADT^A04^ADT_A01|NOPID01|P|2.5.1\rEVN|A04"
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:
        nak = parse_ack(client.send(message))
    assert nak.code == "AE"
    assert nak.control_id == "NOPID01"
    assert nak.error_code == "101"
    assert "PID" in nak.error_message
    assert "ERR||PID^1|101^" in nak.raw
    assert received == []


def test_bad_encoding_characters_are_rejected(server) -> None:
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:
        nak = parse_ack(client.send("MSH|^~A&|PAS|RXX01|||20240101||ADT^A04|C1|P|2.4"))
        assert nak.code == "AR"
        assert nak.error_code == "102"


def test_handler_crash_becomes_ae_207_not_a_dropped_connection(server) -> None:
    bad = _adt(0).replace("|F|||", "|X|||").replace("|M|||", "|X|||")
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:
        nak = parse_ack(client.send(bad))
        assert nak.code == "AE"
        assert nak.error_code == "207"
        assert "boom" not in nak.raw
        assert parse_ack(client.send(_adt(1))).code == "AA"


def test_ack_echoes_version_specific_err_layout(server) -> None:
    msg = "MSH|^~\\&|PAS|RXX01|||20240101||ADT^A04|OLD24|P|2.4\rEVN|A04"
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:
        nak = parse_ack(client.send(msg))
    assert nak.code == "AE"
    assert "|2.4\r" in nak.raw
    assert "ERR|PID^1^^101&Required field missing&HL70357" in nak.raw


def test_oversize_frame_is_refused_with_nak_then_closed(server, received) -> None:
    big = _adt(0, control_id="BIG00001") + "\rNTE|1||" + "x" * 10_000
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:
        nak = parse_ack(client.send(big))
        assert nak.code == "AR"
        assert nak.control_id == "BIG00001"
        assert "4096" in nak.error_message
        with pytest.raises(MllpError):
            client.send(_adt(1))
    assert received == []
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:  # the listener is still fine
        assert parse_ack(client.send(_adt(2))).code == "AA"


def test_stalled_mid_frame_gets_nak_after_frame_timeout(server, received) -> None:
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:
        client.send_bytes(START_BLOCK + _adt(4, control_id="STALL001").encode())
        nak = parse_ack(client.receive(timeout=5))
    assert nak.code == "AR"
    assert nak.control_id == "STALL001"
    assert "end block" in nak.error_message
    assert received == []


def test_frame_interrupted_by_new_start_block_is_nakked_and_next_processed(server, received) -> None:
    cut = _adt(0, control_id="CUT00001")
    partial = START_BLOCK + cut[: cut.index("\rEVN") + 5].encode()
    with MllpClient("127.0.0.1", server.port, timeout=5) as client:
        client.send_bytes(partial + frame(_adt(1, control_id="WHOLE001")))
        first, second = parse_ack(client.receive()), parse_ack(client.receive())
    assert (first.code, first.control_id) == ("AR", "CUT00001")
    assert (second.code, second.control_id) == ("AA", "WHOLE001")


def test_idle_connection_is_closed_by_server() -> None:
    settings = MllpSettings(idle_timeout=0.3)
    with ThreadedMllpServer(Hl7Receiver(lambda m: None), settings=settings) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        started = time.monotonic()
        assert sock.recv(10) == b""  # orderly close, not a hang
        assert time.monotonic() - started < 5
        sock.close()


def test_decoder_units_frames_noise_and_oversize() -> None:
    dec = FrameDecoder(max_frame_bytes=300)
    events = dec.feed(b"noise" + START_BLOCK + b"MSH|a" + END_BLOCK + START_BLOCK + b"MSH")
    assert events == [Frame(b"MSH|a")]
    assert dec.discarded == 5 and dec.in_frame
    assert dec.feed(b"|b" + END_BLOCK) == [Frame(b"MSH|b")]
    assert dec.feed(START_BLOCK + b"A" + START_BLOCK + b"B" + END_BLOCK) == [Interrupted(b"A"), Frame(b"B")]
    out = dec.feed(START_BLOCK + b"MSH|" + b"y" * 400)
    assert len(out) == 1 and isinstance(out[0], Oversize) and out[0].head.startswith(b"MSH|")


def test_client_reports_connection_refused() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(MllpError, match="cannot connect"):
        MllpClient("127.0.0.1", port, timeout=1).connect()
