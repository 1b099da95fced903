"""``mashlink demo --serve``: the first README command plus one flag shows the workspace."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def test_demo_serve_prints_sign_in_links_serves_the_workspace_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "MASHLINK_STATE_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "mashlink.ops.cli", "demo", "--serve", "--port", "0",
                             "--state-dir", str(tmp_path / "demo")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C stops."):
                break
        output = "".join(lines)
        assert "0 messages lost" in output, output
        practitioner = re.search(r"MASH practitioner\s+(http://\S+)", output)
        assert practitioner, output
        base = re.match(r"(http://[^/]+)", practitioner.group(1)).group(1)  # type: ignore[union-attr]
        with httpx.Client(timeout=30) as client:
            assert client.get(f"{base}/workspace").status_code == 303  # not signed in: sent to sign in
            page = client.get(practitioner.group(1), follow_redirects=True)
            assert page.status_code == 200 and str(page.url).endswith("/workspace/referrals")
            assert page.text.count('href="/workspace/referrals/') >= 6  # the demo's referrals
            assert client.get(f"{base}/health/ready").status_code == 200
            ops = re.search(r"Ops\s+(http://\S+)", output)
            assert ops, output
            client.cookies.clear()
            client.get(ops.group(1))
            queues = client.get(f"{base}/workspace/ops/queues")
            assert queues.status_code == 200
            assert 'id="none-reported"' not in queues.text, queues.text
            assert ".enquiry.police-synth.red" in queues.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("demo --serve did not stop on SIGTERM") from None
    assert code == 0, code
