"""AMQP over TLS against a real RabbitMQ TLS listener started by the test.

The test makes a CA, a server certificate (for ``rabbit.mashlink.test``
only, so connecting to 127.0.0.1 needs ``broker_tls.server_name``), a client
certificate, and a second, unrelated CA with its own client certificate. It
starts one extra RabbitMQ node (``cluster_support``) with an ``ssl_listeners``
port that verifies peers and refuses clients without a certificate, then
shows: publish and consume work with the right CA, client certificate and
server name; a wrong CA, a missing client certificate, a client certificate
the broker does not trust and a name mismatch each fail with one paragraph
naming the setting to change; missing or broken files are refused before any
connection.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mashlink.broker import Broker, EnvelopeCodec, HandlerResult, Topology
from mashlink.broker.link import BrokerTlsError
from mashlink.config.errors import ConfigError
from mashlink.config.settings import BrokerTlsSettings, load_settings
from mashlink.schemas.codes import Rag
from tests.broker.broker_helpers import AGENCY, KEYS, enquiry_envelope
from tests.broker.cluster_support import RabbitNodes, TlsListener, rabbitmq_missing
from tests.conftest import services_required

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.timeout(900)]

SERVER_NAME = "rabbit.mashlink.test"


# ---- certificates -------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mashlink synthetic test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@dataclass
class Ca:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    file: Path

    @classmethod
    def make(cls, directory: Path, label: str) -> Ca:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(_name(f"{label} CA")).issuer_name(_name(f"{label} CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert, _write_cert(cert, directory / f"{label}-ca.pem"))

    def issue(self, directory: Path, label: str, *, server_names: list[str] | None = None) -> tuple[Path, Path]:
        """A leaf certificate and key: for a server with ``server_names``, else for a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder().subject_name(_name(label)).issuer_name(self.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server_names is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in server_names]), critical=False
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                                            critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return _write_cert(cert, directory / f"{label}.pem"), _write_key(key, directory / f"{label}-key.pem")


@dataclass
class Pki:
    ca: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    other_client_cert: Path
    other_client_key: Path
    server_cert: Path
    server_key: Path


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca, other = Ca.make(directory, "mash"), Ca.make(directory, "other")
    server_cert, server_key = ca.issue(directory, "broker", server_names=[SERVER_NAME])
    client_cert, client_key = ca.issue(directory, "hub-client")
    other_cert, other_key = other.issue(directory, "stranger-client")
    return Pki(ca.file, client_cert, client_key, other.file, other_cert, other_key, server_cert, server_key)


# ---- fixtures -------------------------------------------------------------------


@dataclass
class TlsBroker:
    pki: Pki
    node: RabbitNodes

    @property
    def url(self) -> str:
        return f"amqps://guest:guest@127.0.0.1:{self.node.nodes[0].tls_port}//"

    def good_tls(self, **changes: object) -> BrokerTlsSettings:
        values: dict[str, object] = {"ca_file": self.pki.ca, "cert_file": self.pki.client_cert,
                                     "key_file": self.pki.client_key, "server_name": SERVER_NAME}
        values.update(changes)
        return BrokerTlsSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    missing = rabbitmq_missing()
    if missing:
        message = f"cannot start an extra RabbitMQ node: {missing}"
        if services_required():
            pytest.fail(f"{message} and MASHLINK_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    root = Path(tmp_path_factory.mktemp("rabbit-tls"))
    pki = make_pki(root / "pki")
    nodes = RabbitNodes(root / "node", size=1, cluster=False, prefix="mltls",
                        tls=TlsListener(pki.ca, pki.server_cert, pki.server_key))
    with nodes:
        yield TlsBroker(pki, nodes)
    assert nodes.leftovers() == [], "RabbitMQ processes left running after stop"


def _broker(url: str, tls: BrokerTlsSettings, unique_name: str) -> Broker:
    return Broker(url, EnvelopeCodec(KEYS), Topology(f"tls{unique_name}"), tls=tls, reconnect_attempts=1,
                  retry_backoff_s=0.05)


def _tls_error(url: str, tls: BrokerTlsSettings, unique_name: str) -> str:
    broker = _broker(url, tls, unique_name)
    try:
        with pytest.raises(BrokerTlsError) as caught:
            broker.declare([AGENCY])
    finally:
        broker.close()
    return str(caught.value)


# ---- what works -------------------------------------------------------------------


def test_publish_and_consume_over_tls_with_the_right_ca_client_cert_and_server_name(
        tls_broker: TlsBroker, unique_name: str) -> None:
    broker = _broker(tls_broker.url, tls_broker.good_tls(), unique_name)
    try:
        broker.declare([AGENCY])
        env = enquiry_envelope(Rag.RED)
        broker.publish([broker.topology.enquiry(env)])
        transport = broker.link.connection.connection.transport
        assert isinstance(transport.sock, ssl.SSLSocket)
        peer = transport.sock.getpeercert()
        assert ("DNS", SERVER_NAME) in peer["subjectAltName"]

        seen: list[str] = []

        def handler(deliveries: list) -> list[HandlerResult]:  # type: ignore[type-arg]
            seen.extend(d.message_id for d in deliveries)
            return [HandlerResult.ack() for _ in deliveries]

        with broker.consumer(broker.topology.enquiry_queues(AGENCY), handler) as consumer:
            consumer.run_once(30.0)
            assert isinstance(consumer.link.connection.connection.transport.sock, ssl.SSLSocket)
        assert seen == [env.message_id]
        broker.delete_topology([AGENCY])
    finally:
        broker.close()


def test_settings_carry_the_tls_options_from_the_environment(tls_broker: TlsBroker,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_BROKER_URL", tls_broker.url)
    monkeypatch.setenv("MASHLINK_BROKER_TLS__CA_FILE", str(tls_broker.pki.ca))
    monkeypatch.setenv("MASHLINK_BROKER_TLS__CERT_FILE", str(tls_broker.pki.client_cert))
    monkeypatch.setenv("MASHLINK_BROKER_TLS__KEY_FILE", str(tls_broker.pki.client_key))
    monkeypatch.setenv("MASHLINK_BROKER_TLS__SERVER_NAME", SERVER_NAME)
    settings = load_settings()
    assert settings.broker_tls == tls_broker.good_tls()


# ---- what fails, and how it says so -----------------------------------------------


def test_a_wrong_ca_is_refused_naming_ca_file(tls_broker: TlsBroker, unique_name: str) -> None:
    message = _tls_error(tls_broker.url, tls_broker.good_tls(ca_file=tls_broker.pki.other_ca), unique_name)
    assert "broker_tls.ca_file" in message
    assert "cannot be verified" in message
    assert str(tls_broker.pki.other_ca) in message


def test_no_client_certificate_is_refused_by_the_broker_naming_cert_file(
        tls_broker: TlsBroker, unique_name: str) -> None:
    message = _tls_error(tls_broker.url, tls_broker.good_tls(cert_file=None, key_file=None), unique_name)
    assert "no client certificate is configured" in message and "requires one" in message
    assert "broker_tls.cert_file" in message


def test_a_client_certificate_from_another_ca_is_refused(tls_broker: TlsBroker, unique_name: str) -> None:
    tls = tls_broker.good_tls(cert_file=tls_broker.pki.other_client_cert, key_file=tls_broker.pki.other_client_key)
    message = _tls_error(tls_broker.url, tls, unique_name)
    assert "broker_tls.cert_file" in message
    assert str(tls_broker.pki.other_client_cert) in message


def test_a_hostname_mismatch_fails_unless_the_server_name_matches(tls_broker: TlsBroker, unique_name: str) -> None:
    # Connecting to 127.0.0.1: the certificate names only rabbit.mashlink.test.
    message = _tls_error(tls_broker.url, tls_broker.good_tls(server_name=None), unique_name)
    assert "does not carry the name '127.0.0.1'" in message
    assert "broker_tls.server_name" in message
    message = _tls_error(tls_broker.url, tls_broker.good_tls(server_name="other.mashlink.test"), unique_name)
    assert "'other.mashlink.test'" in message and "broker_tls.server_name" in message
    broker = _broker(tls_broker.url, tls_broker.good_tls(server_name=SERVER_NAME), unique_name)
    try:
        broker.declare([AGENCY])
        broker.delete_topology([AGENCY])
    finally:
        broker.close()


def test_missing_or_broken_files_are_refused_before_connecting(tls_broker: TlsBroker, tmp_path: Path,
                                                                unique_name: str) -> None:
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(BrokerTlsError, match=r"broker_tls\.ca_file: file .*no-such-ca\.pem.* does not exist"):
        _broker(tls_broker.url, BrokerTlsSettings.model_construct(ca_file=missing), unique_name)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not a certificate\n")
    with pytest.raises(BrokerTlsError, match=r"broker_tls\.ca_file: .*garbage\.pem.* no readable PEM"):
        _broker(tls_broker.url, tls_broker.good_tls(ca_file=garbage), unique_name)
    with pytest.raises(BrokerTlsError, match=r"broker_tls\.cert_file / broker_tls\.key_file"):
        _broker(tls_broker.url, tls_broker.good_tls(key_file=tls_broker.pki.other_client_key), unique_name)
    # Loading settings names the key path and says what is wrong.
    with pytest.raises(ConfigError) as caught:
        load_settings(broker_url=tls_broker.url, broker_tls={"ca_file": str(missing)})
    assert "broker_tls.ca_file" in str(caught.value) and "does not exist" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_settings(broker_url=tls_broker.url.replace("amqps://", "amqp://"),
                      broker_tls={"ca_file": str(tls_broker.pki.ca)})
    assert "plain (non-TLS) scheme" in str(caught.value)


def test_the_command_preflight_probe_uses_the_tls_settings(tls_broker: TlsBroker) -> None:
    """``mashlink status`` and friends check the broker first: with TLS too, and with the same paragraph."""
    from mashlink.ops.wiring import Unreachable, probe_broker

    good = load_settings(broker_url=tls_broker.url, broker_tls=tls_broker.good_tls().model_dump())
    probe_broker(good, timeout_s=30.0)
    wrong_ca = load_settings(broker_url=tls_broker.url,
                             broker_tls=tls_broker.good_tls(ca_file=tls_broker.pki.other_ca).model_dump())
    with pytest.raises(Unreachable) as caught:
        probe_broker(wrong_ca, timeout_s=30.0)
    assert "broker_tls.ca_file" in str(caught.value) and "cannot be verified" in str(caught.value)


def test_verify_none_encrypts_without_checking_the_broker(tls_broker: TlsBroker, unique_name: str) -> None:
    """The test-only mode: a wrong CA and no server name still connect (over TLS), which is why production refuses it."""
    tls = tls_broker.good_tls(ca_file=tls_broker.pki.other_ca, server_name=None, verify="verify_none")
    broker = _broker(tls_broker.url, tls, unique_name)
    try:
        broker.declare([AGENCY])
        assert isinstance(broker.link.connection.connection.transport.sock, ssl.SSLSocket)
        broker.delete_topology([AGENCY])
    finally:
        broker.close()
    with pytest.raises(ConfigError, match=r"verify_none but environment is production"):
        load_settings(broker_url=tls_broker.url, environment="production",
                      broker_tls={"verify": "verify_none"})
