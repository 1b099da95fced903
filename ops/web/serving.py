"""Serving the hub's web app until SIGTERM or Ctrl-C, then returning so the caller can shut down cleanly.

uvicorn (0.29 and later) re-raises a captured SIGTERM/SIGINT after its own
shutdown, which ends the process before the caller's ``finally`` runs: the
hub runtime would not finish its batch, connectors would not stop. Here the
signals only ask the server to exit, and ``serve`` returns normally, so
Docker's and systemd's SIGTERM get the graceful stop the commands promise.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Signals are handled by ``serve`` below: nothing to capture or re-raise here."""
        yield


def serve(app: Any, *, host: str | None = None, port: int | None = None, sock: socket.socket | None = None,
          log_level: str = "warning") -> None:
    """Run ``app`` until SIGTERM/SIGINT; return normally afterwards (previous handlers restored)."""
    config = uvicorn.Config(app, host=host or "127.0.0.1", port=port or 8080, log_level=log_level,
                            lifespan="off")
    server = _Server(config)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock] if sock is not None else None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
