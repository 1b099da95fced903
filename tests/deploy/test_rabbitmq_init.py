"""deploy/rabbitmq-init.sh provisions exactly the permissions broker/permissions.py defines.

The script is run by a real shell with ``curl`` replaced by a recorder on the
PATH, so what is checked is what the script would send to the management API.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

from mashlink.broker.permissions import agency_permissions, hub_permissions
from mashlink.broker.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
AGENCIES = ["police-synth", "health-synth", "education-synth", "social-care-synth"]

RECORDER = """#!/bin/sh
# Records "URL<TAB>BODY" for each PUT, as curl would send it.
url=""; body=""
while [ $# -gt 0 ]; do
  case "$1" in
    -d) body="$2"; shift 2 ;;
    http*) url="$1"; shift ;;
    *) shift ;;
  esac
done
printf '%s\\t%s\\n' "$url" "$body" >> "$RECORD"
"""


def _run_script(tmp_path: Path) -> dict[str, dict]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    curl = bin_dir / "curl"
    curl.write_text(RECORDER, encoding="utf-8")
    curl.chmod(curl.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "record.tsv"
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", "RECORD": str(record),
           "RABBITMQ_ADMIN_USER": "admin", "RABBITMQ_ADMIN_PASSWORD": "test-only",
           "HUB_BROKER_PASSWORD": "test-only-hub",
           **{a.upper().replace("-", "_") + "_BROKER_PASSWORD": f"test-only-{a}" for a in AGENCIES}}
    done = subprocess.run(["sh", str(ROOT / "deploy" / "rabbitmq-init.sh")], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    sent: dict[str, dict] = {}
    for line in record.read_text(encoding="utf-8").splitlines():
        url, body = line.split("\t", 1)
        sent[url.removeprefix("http://rabbitmq:15672/api/")] = json.loads(body)
    return sent


def test_init_script_sends_the_permissions_the_code_defines(tmp_path: Path) -> None:
    sent = _run_script(tmp_path)
    topology = Topology("mashlink")
    hub = hub_permissions(topology)
    assert sent["permissions/%2F/hub"] == {"configure": hub.configure, "write": hub.write, "read": hub.read}
    assert sent["users/hub"]["password"] == "test-only-hub"
    for agency in AGENCIES:
        expected = agency_permissions(topology, agency)
        assert sent[f"permissions/%2F/{agency}"] == {
            "configure": expected.configure, "write": expected.write, "read": expected.read}, agency
        (topic,) = expected.topic
        assert sent[f"topic-permissions/%2F/{agency}"] == topic.model_dump(), agency
        assert sent[f"users/{agency}"]["password"] == f"test-only-{agency}"
