"""The AMQP transport: one kombu connection to RabbitMQ plus a publisher-confirm channel.

:class:`KombuLink` holds what both transports share (a kombu connection,
failover between hosts, draining, reset and close); :class:`AmqpTransport`
adds what RabbitMQ (py-amqp) needs, and :class:`~mashlink.broker.memory.MemoryTransport`
the embedded ``memory://`` transport. :func:`mashlink.broker.transport.open_transport`
chooses between them by URL; nothing else looks at the scheme.

* Publishing keeps a *window* of many messages in flight on a confirm
  channel, collecting ``basic_ack`` / ``basic_nack`` / ``basic_return``
  through py-amqp's ``channel.events`` callbacks while draining. kombu's own
  ``confirm_publish`` waits for each message's confirm before sending the
  next one (one round trip per message); see ``mashlink bench publish`` for
  the measured difference.
* An unacked delivery goes back to its queue when its channel closes (the
  broker does it), and one ``multiple`` ack may settle a run of deliveries.

Failover: ``url`` may list several RabbitMQ nodes separated by ``;``
(``amqp://u:p@n1:5672//;amqp://u:p@n2:5672//``). Each (re)connect tries the
node that last worked first and then walks the others once, one attempt each,
so a killed node costs one refused connection, not a back-off. Sleeping
between rounds is the caller's business (``Broker``, ``Consumer.run``).

TLS: every ``amqps://`` host gets py-amqp SSL options built from
:class:`~mashlink.config.settings.BrokerTlsSettings` (CA, client certificate
and key, server name checked and sent as SNI). A verification failure is a
:class:`BrokerTlsError` naming the setting to fix; it is not retried.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import amqp
import kombu
import structlog

from .errors import BrokerError
from ..config.settings import BrokerTlsSettings, broker_hosts, mask_url

log = structlog.get_logger(__name__)

CONTENT_TYPE = "application/json"


@dataclass
class RawMessage:
    """Bytes plus route and AMQP properties: what actually goes on the wire."""

    body: bytes
    exchange: str
    routing_key: str
    message_id: str
    message_type: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)


class BrokerTlsError(BrokerError):
    """TLS to the broker failed in a way a retry cannot fix (trust, name, client certificate, files)."""


def _host_port(url: str) -> tuple[str, int]:
    parsed = urlsplit(url)
    scheme = url.split("://", 1)[0].lower()
    return parsed.hostname or "localhost", parsed.port or (5671 if scheme == "amqps" else 5672)


def check_tls_files(tls: BrokerTlsSettings) -> None:
    """Load the CA, certificate and key once, so a bad file is an error naming its setting before any connect."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls.ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=str(tls.ca_file))
        except FileNotFoundError:
            raise BrokerTlsError(f"broker_tls.ca_file: file {str(tls.ca_file)!r} does not exist") from None
        except (ssl.SSLError, OSError) as exc:
            raise BrokerTlsError(f"broker_tls.ca_file: {str(tls.ca_file)!r} holds no readable PEM CA certificate "
                                 f"({exc}); it must be the PEM file of the CA that signed the broker's "
                                 "certificate") from None
    if tls.cert_file is not None:
        key = str(tls.key_file) if tls.key_file is not None else None
        try:
            ctx.load_cert_chain(str(tls.cert_file), key)
        except FileNotFoundError as exc:
            missing = "broker_tls.key_file" if key and exc.filename == key else "broker_tls.cert_file"
            raise BrokerTlsError(f"{missing}: file {exc.filename or tls.cert_file!r} does not exist") from None
        except (ssl.SSLError, OSError) as exc:
            raise BrokerTlsError(
                f"broker_tls.cert_file / broker_tls.key_file: {str(tls.cert_file)!r} and "
                f"{key or '(key inside the certificate file)'!r} are not a PEM client certificate and its "
                f"matching private key ({exc})") from None


def tls_options(tls: BrokerTlsSettings | None, url: str) -> dict[str, Any] | None:
    """py-amqp ``ssl`` options for one host URL (None for a plain amqp:// host).

    The name checked (and sent as SNI) is ``tls.server_name`` or the URL's
    host; py-amqp checks the name only when it is given one, so it always is
    under ``verify_peer``.
    """
    if url.split("://", 1)[0].lower() != "amqps":
        return None
    tls = tls or BrokerTlsSettings()
    options: dict[str, Any] = {}
    if tls.ca_file is not None:
        options["ca_certs"] = str(tls.ca_file)
    if tls.cert_file is not None:
        options["certfile"] = str(tls.cert_file)
        if tls.key_file is not None:
            options["keyfile"] = str(tls.key_file)
    if tls.verify == "verify_peer":
        options["cert_reqs"] = ssl.CERT_REQUIRED
        options["server_hostname"] = tls.server_name or _host_port(url)[0]
    else:
        options["cert_reqs"] = ssl.CERT_NONE  # no name check either: py-amqp refuses a name without verification
    return options


def explain_tls_failure(exc: BaseException, url: str, tls: BrokerTlsSettings | None) -> BrokerTlsError | None:
    """One paragraph for a TLS failure, naming the setting to change (None: not a TLS problem)."""
    tls = tls or BrokerTlsSettings()
    host, port = _host_port(url)
    where = f"the broker at {host}:{port}"
    name = tls.server_name or host
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = (getattr(exc, "verify_message", "") or str(exc)).rstrip(".")
        # 62 hostname, 64 IP address mismatch (OpenSSL X509_V_ERR_*_MISMATCH)
        if getattr(exc, "verify_code", None) in (62, 64) or "mismatch" in str(exc).lower():
            return BrokerTlsError(
                f"{where} presented a certificate that does not carry the name {name!r} ({detail}). Set "
                "broker_tls.server_name (MASHLINK_BROKER_TLS__SERVER_NAME) to a name in the broker's certificate, "
                "or use that name as the host in broker_url.")
        trusted = (f"broker_tls.ca_file ({str(tls.ca_file)!r})" if tls.ca_file
                   else "the system trust store (broker_tls.ca_file is unset)")
        return BrokerTlsError(
            f"{where} presented a certificate that cannot be verified against {trusted}: {detail}. Set "
            "broker_tls.ca_file (MASHLINK_BROKER_TLS__CA_FILE) to the PEM file of the CA that signed the "
            "broker's certificate.")
    if isinstance(exc, ssl.SSLError):
        # The broker refused us: RabbitMQ closes the handshake (often a bare EOF under TLS 1.3)
        # when no client certificate comes, or one signed by a CA it does not trust.
        if tls.cert_file is None:
            return BrokerTlsError(
                f"{where} ended the TLS handshake ({exc}) and no client certificate is configured: the broker "
                "most likely requires one (RabbitMQ ssl_options.fail_if_no_peer_cert). Set broker_tls.cert_file "
                "and broker_tls.key_file (MASHLINK_BROKER_TLS__CERT_FILE / __KEY_FILE) to a certificate signed "
                "by a CA the broker trusts (its ssl_options.cacertfile).")
        return BrokerTlsError(
            f"{where} ended the TLS handshake ({exc}): it most likely does not accept the client certificate "
            f"in broker_tls.cert_file ({str(tls.cert_file)!r}). Check that the broker trusts the CA that signed "
            "it (RabbitMQ ssl_options.cacertfile), that it is a client certificate and not expired, and that "
            "broker_url points at the broker's TLS listener (port 5671 by default).")
    return None


class LinkLost(Exception):
    """The connection broke during a publish; ``confirmed``/``failed`` say what settled before."""

    def __init__(self, cause: BaseException, confirmed: set[int], failed: dict[int, str]) -> None:
        super().__init__(f"connection lost: {type(cause).__name__}: {cause}")
        self.cause = cause
        self.confirmed = confirmed
        self.failed = failed


class _ConfirmTracker:
    """Maps confirm delivery tags to positions in the current publish call."""

    def __init__(self) -> None:
        self.next_tag = 1
        self.reset()

    def reset(self) -> None:
        self.outstanding: dict[int, int] = {}  # delivery tag -> index in batch
        self.message_ids: dict[int, str] = {}
        self.tags_by_mid: dict[str, list[int]] = {}
        self.returned: dict[int, str] = {}
        self.confirmed: set[int] = set()
        self.failed: dict[int, str] = {}
        self.nacked = 0
        self.last_progress = time.monotonic()

    def sent(self, index: int, message_id: str) -> None:
        tag = self.next_tag
        self.next_tag += 1
        self.outstanding[tag] = index
        self.message_ids[tag] = message_id
        self.tags_by_mid.setdefault(message_id, []).append(tag)

    def _take(self, tag: int, multiple: bool) -> list[int]:
        if multiple:
            return list(itertools.takewhile(lambda t: t <= tag, self.outstanding))
        return [tag] if tag in self.outstanding else []

    def _settle(self, tag: int) -> int:
        index = self.outstanding.pop(tag)
        mid = self.message_ids.pop(tag)
        tags = self.tags_by_mid.get(mid)
        if tags:
            tags.remove(tag)
            if not tags:
                del self.tags_by_mid[mid]
        self.last_progress = time.monotonic()
        return index

    def on_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        for tag in self._take(delivery_tag, multiple):
            returned = self.returned.pop(tag, None)
            index = self._settle(tag)
            if returned is None:
                self.confirmed.add(index)
            else:
                self.failed[index] = returned

    def on_nack(self, delivery_tag: int, multiple: bool = False) -> None:
        for tag in self._take(delivery_tag, multiple):
            self.returned.pop(tag, None)
            self.nacked += 1
            self.failed[self._settle(tag)] = ("nacked by the broker (queue full with reject-publish, or a quorum "
                                              "queue without a leader yet)")

    def on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        props = getattr(message, "properties", {}) or {}
        mid = props.get("message_id")
        reason = f"unroutable: exchange {exchange!r} routing key {routing_key!r} ({getattr(exc, 'reply_text', exc)})"
        for tag in self.tags_by_mid.get(mid, ()):
            if tag not in self.returned:
                self.returned[tag] = reason
                return
        log.warning("broker.return_unmatched", exchange=exchange, routing_key=routing_key)


class KombuLink:
    """A kombu connection and the channels on it: what both transports share. Not thread-safe: one per thread.

    Subclasses say how to open a connection (``_new_connection``), how to
    publish, and how an unacked delivery goes back to its queue.
    """

    #: True for the in-process transport (no other process can reach it).
    embedded: bool = False
    #: Whether one ``basic_ack(tag, multiple=True)`` settles every delivery up to ``tag`` on a channel.
    multiple_ack: bool = False

    def __init__(self, url: str, hosts: list[str]) -> None:
        if not hosts:
            raise ValueError(f"broker url {url!r} names no host")
        self.url = url
        #: Every node of a failover URL, in the order given; ``host_index`` is the one in use or last used.
        self.hosts = hosts
        self.host_index = 0
        self._conn: kombu.Connection | None = None
        self._pub: Any = None

    # ---- connection ----------------------------------------------------
    def _new_connection(self, index: int | None = None) -> kombu.Connection:
        raise NotImplementedError

    def _connect(self, index: int) -> kombu.Connection:
        """One attempt at one host."""
        conn = self._new_connection(index)
        try:
            conn.ensure_connection(max_retries=0, reraise_as_library_errors=False)
        except Exception:
            conn.release()
            raise
        return conn

    @property
    def connection(self) -> kombu.Connection:
        """The live kombu connection: the last good host first, then each other host once."""
        if self._conn is None:
            count = len(self.hosts)
            last: BaseException | None = None
            for step in range(count):
                index = (self.host_index + step) % count
                try:
                    conn = self._connect(index)
                except BrokerTlsError:
                    raise
                except Exception as exc:
                    if count == 1:
                        raise
                    last = exc
                    log.warning("broker.host_unreachable", host=mask_url(self.hosts[index]),
                                error=type(exc).__name__, trying_next=step + 1 < count)
                    continue
                if index != self.host_index:
                    log.warning("broker.failed_over", host=mask_url(self.hosts[index]),
                                previous=mask_url(self.hosts[self.host_index]))
                self.host_index = index
                self._conn = conn
                self._pub = None
                break
            else:
                assert last is not None
                raise last
        return self._conn

    @property
    def current_host(self) -> str:
        """The host URL in use (or last used), password masked: for logs and failover reports."""
        return mask_url(self.hosts[self.host_index])

    @property
    def current_port(self) -> int | None:
        """The TCP port of the open connection, None when not connected (tests pick the node to kill by it)."""
        return None

    @property
    def current_connection(self) -> kombu.Connection | None:
        """The connection if one is open, without connecting (diagnostics, tests)."""
        return self._conn

    @property
    def recoverable_errors(self) -> tuple[type[BaseException], ...]:
        """Errors after which a new connection is the remedy."""
        return (
            amqp.exceptions.ConnectionError,
            amqp.exceptions.RecoverableConnectionError,
            ConnectionError,
            OSError,
            socket.timeout,
        ) + tuple(self.connection_errors())

    def connection_errors(self) -> tuple[type[BaseException], ...]:
        conn = self._conn or self._new_connection()
        return tuple(conn.connection_errors)

    def channel(self) -> Any:
        return self.connection.channel()

    def reset(self) -> None:
        """Drop the connection without ceremony (it may already be dead)."""
        conn, self._conn, self._pub = self._conn, None, None
        if conn is not None:
            try:
                conn.collect()
            except Exception:  # noqa: BLE001 - a dead connection may fail to close in many ways
                pass

    def close(self) -> None:
        conn, self._conn, self._pub = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # noqa: BLE001
                conn.collect()

    def heartbeat_check(self) -> None:
        """Send/check heartbeats on an open connection (nothing to do where there are none)."""

    def drain(self, timeout: float) -> bool:
        """Process one batch of incoming frames; False on timeout."""
        try:
            self.connection.drain_events(timeout=max(timeout, 0.0))
            return True
        except socket.timeout:
            return False

    # ---- deliveries ------------------------------------------------------
    def fetched(self, channel: Any, raw: Any) -> Any:
        """``channel.basic_get``'s result as a kombu message (``body``, ``headers``, ``ack()``)."""
        return raw

    def give_back(self, channel: Any, message: Any, queue: str) -> None:
        """Return an unacked delivery to ``queue`` before ``channel`` closes (a no-op where closing does it)."""

    # ---- publishing ----------------------------------------------------
    def publish(self, messages: Sequence[RawMessage]) -> tuple[set[int], dict[int, str]]:
        """Publish all; return (confirmed indexes, failed index -> reason); every index is one or the other."""
        raise NotImplementedError


class AmqpTransport(KombuLink):
    """RabbitMQ over py-amqp: failover hosts, TLS, heartbeats and a window of publisher confirms in flight."""

    multiple_ack = True

    def __init__(
        self,
        url: str,
        *,
        heartbeat_s: int = 30,
        confirm_timeout_s: float = 10.0,
        window: int = 1000,
        connect_timeout_s: float = 5.0,
        tls: BrokerTlsSettings | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("publish window must be >= 1")
        super().__init__(url, broker_hosts(url))
        self.tls = tls
        if tls is not None and any(h.split("://", 1)[0].lower() == "amqps" for h in self.hosts):
            check_tls_files(tls)
        self.heartbeat_s = heartbeat_s
        self.confirm_timeout_s = confirm_timeout_s
        self.window = window
        self.connect_timeout_s = connect_timeout_s
        self._tracker = _ConfirmTracker()

    # ---- connection ----------------------------------------------------
    def _new_connection(self, index: int | None = None) -> kombu.Connection:
        host = self.hosts[self.host_index if index is None else index]
        return kombu.Connection(
            host,
            heartbeat=self.heartbeat_s,
            connect_timeout=self.connect_timeout_s,
            ssl=tls_options(self.tls, host) or False,
            transport_options={"confirm_publish": False},
        )

    def _connect(self, index: int) -> kombu.Connection:
        """One attempt at one host; a TLS failure becomes a :class:`BrokerTlsError`."""
        try:
            return super()._connect(index)
        except Exception as exc:
            if self.hosts[index].split("://", 1)[0].lower() == "amqps":
                explained = explain_tls_failure(exc, self.hosts[index], self.tls)
                if explained is not None:
                    raise explained from exc
            raise

    @property
    def current_port(self) -> int | None:
        if self._conn is None:
            return None
        return _host_port(self.hosts[self.host_index])[1]

    def heartbeat_check(self) -> None:
        if self._conn is not None:
            self._conn.heartbeat_check()

    def fetched(self, channel: Any, raw: Any) -> Any:
        return channel.message_to_python(raw)

    # ---- publishing ----------------------------------------------------
    def _publish_channel(self) -> Any:
        if self._pub is None or getattr(self._pub, "is_open", True) is False:
            ch = self.connection.channel()
            ch.confirm_select()
            self._tracker = _ConfirmTracker()
            ch.events["basic_ack"].add(self._tracker.on_ack)
            ch.events["basic_nack"].add(self._tracker.on_nack)
            ch.events["basic_return"].add(self._tracker.on_return)
            self._pub = ch
        return self._pub

    def publish(self, messages: Sequence[RawMessage]) -> tuple[set[int], dict[int, str]]:
        """Publish all, many in flight; return (confirmed indexes, failed index -> reason).

        A message is failed when the broker nacks it, returns it as
        unroutable, closes the channel (e.g. missing exchange) or sends no
        confirm within ``confirm_timeout_s`` of the last confirm received.
        Raises :class:`LinkLost` (carrying what did settle) when the
        connection breaks; the caller decides whether to reconnect and
        re-publish the rest.
        """
        if not messages:
            return set(), {}
        try:
            return self._publish_amqp(messages)
        except self.recoverable_errors as exc:
            tracker = self._tracker
            confirmed, failed = set(tracker.confirmed), dict(tracker.failed)
            self.reset()
            raise LinkLost(exc, confirmed, failed) from exc

    def _publish_amqp(self, messages: Sequence[RawMessage]) -> tuple[set[int], dict[int, str]]:
        try:
            ch = self._publish_channel()
        except amqp.exceptions.ChannelError as exc:
            self._pub = None
            return set(), {i: f"cannot open confirm channel: {exc}" for i in range(len(messages))}
        tracker = self._tracker
        tracker.reset()
        if not ch.is_open or self.connection.connection is None:
            raise amqp.exceptions.RecoverableConnectionError("publish channel is closed")
        stopped = ""
        try:
            for index, m in enumerate(messages):
                while len(tracker.outstanding) >= self.window and not stopped:
                    if not self._wait_confirms(tracker):
                        stopped = "not sent: an earlier message timed out waiting for its confirm"
                if stopped:
                    break
                props: dict[str, Any] = {
                    "content_type": CONTENT_TYPE,
                    "delivery_mode": 2,
                    "message_id": m.message_id,
                    "application_headers": dict(m.headers),
                }
                if m.message_type:
                    props["type"] = m.message_type
                tracker.sent(index, m.message_id)
                # py-amqp's basic_publish also polls the socket before each
                # message, which is where confirms get processed as we go.
                ch.basic_publish(
                    amqp.Message(m.body, **props),
                    exchange=m.exchange,
                    routing_key=m.routing_key,
                    mandatory=True,
                )
            while tracker.outstanding:
                if not self._wait_confirms(tracker):
                    break
        except amqp.exceptions.ChannelError as exc:
            # e.g. 404 NOT_FOUND for a missing exchange: the server closed the
            # channel; every message not yet confirmed is failed.
            self._pub = None
            stopped = f"not sent: channel closed by broker: {exc}"
            self._fail_outstanding(tracker, f"channel closed by broker: {exc}")
        confirmed, failed = set(tracker.confirmed), dict(tracker.failed)
        if tracker.nacked and self._pub is not None:
            # A quorum queue nacks every publish of a channel that registered with it while its
            # leader was being elected (after a node failure) until that channel is closed; a
            # fresh channel registers anew, so the caller's retry is not nacked forever.
            log.warning("broker.publish_nacked", nacked=tracker.nacked, channel_replaced=True)
            self._drop_publish_channel()
        # Every message is accounted for: confirmed or failed, never neither.
        for index in range(len(messages)):
            if index not in confirmed and index not in failed:
                failed[index] = stopped or "not confirmed"
        return confirmed, failed

    @staticmethod
    def _fail_outstanding(tracker: _ConfirmTracker, reason: str) -> None:
        for index in tracker.outstanding.values():
            tracker.failed[index] = reason
        tracker.outstanding.clear()
        tracker.message_ids.clear()
        tracker.tags_by_mid.clear()

    def _wait_confirms(self, tracker: _ConfirmTracker) -> bool:
        """Drain until progress or timeout; False (and all outstanding failed) on timeout."""
        remaining = tracker.last_progress + self.confirm_timeout_s - time.monotonic()
        if remaining <= 0:
            log.warning("broker.confirm_timeout", pending=len(tracker.outstanding))
            self._fail_outstanding(tracker, f"no publisher confirm within {self.confirm_timeout_s}s")
            # Late confirms must not be misattributed: a new channel numbers from 1 again.
            self._drop_publish_channel()
            return False
        self.drain(min(remaining, 1.0))
        return True

    def _drop_publish_channel(self) -> None:
        ch, self._pub = self._pub, None
        if ch is not None:
            try:
                ch.close()
            except Exception:  # noqa: BLE001 - best effort on a channel we no longer trust
                pass


#: The earlier name of the AMQP transport (``ops/wiring.py``'s broker probe connects with it).
Link = AmqpTransport
