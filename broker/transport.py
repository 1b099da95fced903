"""One transport interface, two implementations, chosen by URL in :func:`open_transport` and nowhere else.

A :class:`Transport` is one connection (used from one thread) that can
publish with confirms, hand out channels to consume and browse on, drain
incoming frames, and put an unacked delivery back on its queue (requeue)
before its channel closes. ``Broker``, ``Consumer`` and the dead-letter
operations are written against this interface only:

* :class:`~mashlink.broker.link.AmqpTransport` for ``amqp://`` and ``amqps://``
  (RabbitMQ; failover hosts separated by ``;``; TLS; a window of confirms);
* :class:`~mashlink.broker.memory.MemoryTransport` for ``memory://`` (in this
  process only: ``mashlink demo`` and tests).

Parking is a confirmed publish to the dead-letter exchange (``Consumer``) and
inspecting parked messages is ``basic_get`` without ack on a channel
(``broker/dlq.py``); both go through the same methods on either transport.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import kombu

from .link import AmqpTransport, RawMessage
from .memory import MemoryTransport
from ..config.settings import BrokerRuntimeSettings, BrokerTlsSettings


class Transport(Protocol):
    """What the broker layer needs from a connection to a message broker.

    Not runtime-checkable on purpose: an ``isinstance`` check would read
    every property, and reading ``recoverable_errors`` may build a connection.
    """

    url: str
    #: In-process only (another process cannot reach it).
    embedded: bool
    #: Whether ``channel.basic_ack(tag, multiple=True)`` settles every delivery up to ``tag``.
    multiple_ack: bool

    @property
    def current_connection(self) -> kombu.Connection | None: ...

    @property
    def current_port(self) -> int | None: ...

    @property
    def recoverable_errors(self) -> tuple[type[BaseException], ...]: ...

    def connection_errors(self) -> tuple[type[BaseException], ...]: ...

    def channel(self) -> Any: ...

    def publish(self, messages: Sequence[RawMessage]) -> tuple[set[int], dict[int, str]]:
        """Publish with confirms: (confirmed indexes, failed index -> reason); may raise ``LinkLost``."""
        ...

    def drain(self, timeout: float) -> bool: ...

    def fetched(self, channel: Any, raw: Any) -> Any:
        """A ``basic_get`` result as a kombu message."""
        ...

    def give_back(self, channel: Any, message: Any, queue: str) -> None:
        """Requeue an unacked delivery on ``queue`` before ``channel`` closes."""
        ...

    def heartbeat_check(self) -> None: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


def scheme_of(url: str) -> str:
    """The scheme of a broker URL (of its first host), lower case."""
    return url.split("://", 1)[0].strip().lower()


def open_transport(url: str, settings: BrokerRuntimeSettings | None = None, *,
                   tls: BrokerTlsSettings | None = None) -> Transport:
    """The transport for ``url``: ``memory://`` in-process, ``amqp(s)://`` (``;``-separated hosts) RabbitMQ.

    Nothing connects yet; the first use does.
    """
    settings = settings or BrokerRuntimeSettings()
    scheme = scheme_of(url)
    if scheme == "memory":
        return MemoryTransport(url, polling_interval_s=settings.polling_interval_s)
    if scheme in ("amqp", "amqps"):
        return AmqpTransport(url, heartbeat_s=settings.heartbeat_s, confirm_timeout_s=settings.confirm_timeout_s,
                             window=settings.publish_window, connect_timeout_s=settings.connect_timeout_s, tls=tls)
    raise ValueError(f"broker url {url!r} must look like memory:// or amqp://user:pass@host:5672// "
                     f"(scheme {scheme!r} is not one of memory, amqp, amqps)")
