"""MLLP over TLS on real sockets: server and client certificates made at test time with openssl.

The REF^I12 / RRI^I12 round trip runs against the simulated trust peer behind
a TLS listener; a client that does not trust the listener's CA, a plain-text
client, and (with client certificates required) a client without one are all
refused with a clear error; an unusable certificate file stops the connector
at build naming the option.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mashlink.config.errors import ConfigError
from mashlink.connectors.health.hl7_connector import Hl7ReferralConnector
from mashlink.connectors.health.hl7_peer import SyntheticTrustPeer
from mashlink.connectors.health.mllp import MllpClient, MllpError, ThreadedMllpServer
from mashlink.connectors.health.tls import ClientTls, ServerTls
from mashlink.schemas.codes import ResponseStatus
from tests.health.test_health_ref_rri import FINDINGS, KNOWN, PATIENTS, _enquiry
from mashlink.connectors.health.synthetic import patient_person
from tests.health.pki import make_pki
from tests.wiring.helpers import build, settings_for, write_config


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory)


def _peer() -> SyntheticTrustPeer:
    return SyntheticTrustPeer(PATIENTS, FINDINGS)


def test_ref_rri_round_trip_over_tls(pki: Path) -> None:
    server = ServerTls(cert_file=pki / "engine.crt", key_file=pki / "engine.key")
    with ThreadedMllpServer(_peer(), ssl_context=server.context()) as srv:
        connector = Hl7ReferralConnector("synth-trust", "127.0.0.1", srv.port, timeout=10,
                                         ssl_context=ClientTls(ca_file=pki / "trust.crt").context())
        (answer,) = connector.handle(_enquiry(patient_person(KNOWN, "child-1")))
    assert answer.status is ResponseStatus.INFORMATION_FOUND and answer.findings


def test_untrusted_certificate_and_plain_text_are_refused(pki: Path) -> None:
    server = ServerTls(cert_file=pki / "engine.crt", key_file=pki / "engine.key")
    with ThreadedMllpServer(_peer(), ssl_context=server.context()) as srv:
        stranger = MllpClient("127.0.0.1", srv.port, timeout=5,
                              ssl_context=ClientTls(ca_file=pki / "other.crt").context())
        with pytest.raises(MllpError, match="TLS handshake .* failed"):
            stranger.connect()
        wrong_name = MllpClient("127.0.0.1", srv.port, timeout=5, server_name="engine.other.example",
                                ssl_context=ClientTls(ca_file=pki / "trust.crt").context())
        with pytest.raises(MllpError, match="TLS handshake"):
            wrong_name.connect()
        with MllpClient("127.0.0.1", srv.port, timeout=5) as plain, pytest.raises(MllpError):
            plain.send("MSH|^~\\&|X|X|X|X|20240101||ADT^A01|1|P|2.4\r")


def test_client_certificates_required_when_a_client_ca_is_set(pki: Path) -> None:
    server = ServerTls(cert_file=pki / "engine.crt", key_file=pki / "engine.key", client_ca_file=pki / "trust.crt")
    enquiry = _enquiry(patient_person(KNOWN, "child-1"))
    with ThreadedMllpServer(_peer(), ssl_context=server.context()) as srv:
        anonymous = Hl7ReferralConnector("synth-trust", "127.0.0.1", srv.port, timeout=5,
                                         ssl_context=ClientTls(ca_file=pki / "trust.crt").context())
        with pytest.raises(MllpError):
            anonymous.handle(enquiry)
        known = Hl7ReferralConnector("synth-trust", "127.0.0.1", srv.port, timeout=10, ssl_context=ClientTls(
            ca_file=pki / "trust.crt", cert_file=pki / "mash.crt", key_file=pki / "mash.key").context())
        (answer,) = known.handle(enquiry)
    assert answer.status is ResponseStatus.INFORMATION_FOUND


def test_unusable_tls_files_stop_the_connector_naming_the_option(pki: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", [
        {"id": "trust-x", "kind": "health", "connector": "hl7v2", "options": {
            "host": "127.0.0.1", "port": 2575, "tls": {"ca_file": str(tmp_path / "missing-ca.pem")}}},
        {"id": "trust-y", "kind": "health", "connector": "hl7v2", "options": {
            "host": "127.0.0.1", "port": 2575, "adt_listen": {"port": 0, "tls": {
                "cert_file": str(pki / "engine.crt"), "key_file": str(pki / "mash.key")}}}},
    ])
    settings = settings_for(config, tmp_path / "state")
    with pytest.raises(ConfigError) as missing:
        build(settings, "trust-x")
    assert "agencies[0].options.tls.ca_file" in str(missing.value) and "missing-ca.pem" in str(missing.value)
    with pytest.raises(ConfigError) as mismatched:  # the key is not the certificate's
        build(settings, "trust-y")
    assert "agencies[1].options.adt_listen.tls" in str(mismatched.value)
    assert "unusable certificate or key" in str(mismatched.value)


def test_send_hl7_over_tls_from_the_command_line(pki: Path, tmp_path: Path) -> None:
    import sys

    mashlink = str(Path(sys.executable).with_name("mashlink"))
    sample = tmp_path / "a04.hl7"
    assert subprocess.run([mashlink, "health", "sample-adt", "-o", str(sample)], timeout=60).returncode == 0
    received: list[bytes] = []
    from mashlink.connectors.health.hl7_receiver import Hl7Receiver

    server = ServerTls(cert_file=pki / "engine.crt", key_file=pki / "engine.key")
    with ThreadedMllpServer(Hl7Receiver(received.append), ssl_context=server.context()) as srv:
        sent = subprocess.run([mashlink, "health", "send-hl7", str(sample), "--port", str(srv.port),
                               "--tls", "--tls-ca", str(pki / "trust.crt")], capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        assert " -> AA " in sent.stdout and len(received) == 1
        untrusted = subprocess.run([mashlink, "health", "send-hl7", str(sample), "--port", str(srv.port),
                                    "--tls", "--tls-ca", str(pki / "other.crt")], capture_output=True, text=True,
                                   timeout=60)
        assert untrusted.returncode == 2 and "TLS handshake" in untrusted.stderr
    missing = subprocess.run([mashlink, "health", "send-hl7", str(sample), "--port", "1", "--tls-ca",
                              str(tmp_path / "nope.pem")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "ca_file: no such file" in missing.stderr
