"""``mashlink hub`` stops gracefully on SIGTERM (how Docker and systemd stop a service)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_finishes_the_runtime_and_exits_zero(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "MASHLINK_STATE_DIR": str(tmp_path), "MASHLINK_BROKER_URL": "memory://",
           "MASHLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite'}", "MASHLINK_AUDIT_CHECK_INTERVAL_S": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "mashlink.ops.cli", "hub", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "the hub did not start"
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "hub.runtime_stopped" in output, output
