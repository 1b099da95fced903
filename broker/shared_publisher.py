"""One broker connection shared by a process's publishing threads, replaced after a failure.

Connector-side publishers (answers from an agency's tool, ADT alerts from the
MLLP listener's threads, referrals) publish now and then from several threads.
kombu connections are not thread-safe, so they share one under a lock; it is
opened on first use, and a publish that fails drops it (closed quietly) so the
next publish opens a fresh one. The failure is raised to the caller, who still
holds the message and decides when to try again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from .client import Broker
from .messages import OutgoingMessage
from .topology import Topology


class SharedPublisher:
    def __init__(self, broker_factory: Callable[[], Broker]) -> None:
        self.broker_factory = broker_factory
        self._broker: Broker | None = None
        self._lock = threading.Lock()

    def publish(self, route: Callable[[Topology], Sequence[OutgoingMessage]]) -> None:
        """Publish the messages ``route`` builds from the topology, with confirms; raises on failure."""
        with self._lock:
            if self._broker is None:
                self._broker = self.broker_factory()
            broker = self._broker
            try:
                broker.publish(list(route(broker.topology)))
            except Exception:
                self._broker = None
                try:
                    broker.close()
                except Exception:  # noqa: BLE001 - closing a broken connection
                    pass
                raise

    def close(self) -> None:
        with self._lock:
            if self._broker is not None:
                self._broker.close()
                self._broker = None
