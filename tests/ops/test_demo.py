"""`mashlink demo` runs the whole loop on the embedded defaults and loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _mashlink(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mashlink.ops.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=180, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def test_demo_json_shows_every_referral_linked_and_nothing_lost(tmp_path: Path) -> None:
    result = _mashlink("demo", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert list(report)[-1] == "counts"
    counts = report["counts"]
    assert counts["messages_lost"] == 0
    assert counts["referrals"] == len(report["referrals"]) >= 4
    assert counts["enquiries"] == 4 * counts["referrals"]
    assert counts["responses"] >= counts["enquiries"]  # follow-ups come on top
    assert counts["parked_messages"] == 0 and counts["unpublished_outbox"] == 0

    rags = {r["rag"] for r in report["referrals"]}
    assert "red" in rags
    unborn = [s for r in report["referrals"] for s in r["linked_view"]["subjects"] if s["person"].get("unborn")]
    assert unborn, "the demo must include an unborn child"
    for referral in report["referrals"]:
        view = referral["linked_view"]
        assert referral["status"] == "closed"
        assert view["outstanding"] == []
        assert {a["kind"] for a in view["agencies"]} == {"police", "health", "education", "social_care"}
        for entry in view["chronology"]:
            assert entry["agency_id"] and entry["source_system"] and entry["record_id"]
            assert entry["sensitivity"]
    # At least one referral gathered findings from several agencies into one chronology.
    assert max(len({e["agency_id"] for e in r["linked_view"]["chronology"]}) for r in report["referrals"]) >= 3


def test_demo_text_prints_linked_views_and_summary(tmp_path: Path) -> None:
    result = _mashlink("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RAG RED" in result.stdout
    assert "Chronology" in result.stdout
    assert "messages lost 0" in result.stdout


def test_readme_opens_with_demo_and_test_commands_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    commands = [line for line in readme[:8] if line.startswith("python3.11 -m venv")]
    assert len(commands) == 2
    assert commands[0].endswith("mashlink demo")
    assert "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()
    assert "MASHLINK_REQUIRE_SERVICES=1" in (ROOT / ".ci" / "run").read_text()
