"""The backup and restore of docs/operations.md, done for real on PostgreSQL.

Activity on a hub database (referrals, answers, an escalation, an operator's
action, an anchor taken with ``mashlink audit anchor``), then ``pg_dump
--format=custom``, ``pg_restore`` into a fresh database, and ``mashlink audit
verify`` against the restored database with the audit key and the anchor:
the chain verifies there, the hub's data is all there, and with another key
(a backup without its key) the restored chain does not verify.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from mashlink.config.settings import load_settings
from mashlink.hub.models import AuditEventRow, EnquiryRow, ReferralRow, ResponseRow
from mashlink.hub.service import HubService
from tests.hub.hub_support import referral_data
from tests.hub.test_hub_service import _response

AUDIT_KEY = "synthetic-audit-key-for-backup-test-01234x56789"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: postgresql-client)")
    return path


@pytest.fixture
def databases(postgres_url: str, unique_name: str) -> Iterator[tuple[str, str]]:
    """Two fresh databases: the live one and the one a backup is restored into (dropped afterwards)."""
    names = (f"mlbk_live_{unique_name}", f"mlbk_restored_{unique_name}")
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        base = make_url(postgres_url)
        yield tuple(base.set(database=name).render_as_string(hide_password=False) for name in names)  # type: ignore[misc]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _libpq(url: str) -> str:
    """The SQLAlchemy URL as pg_dump / pg_restore take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _mashlink(tmp_path: Path, database_url: str, *args: str, audit_key: str = AUDIT_KEY) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHLINK_")}
    env.update({"MASHLINK_STATE_DIR": str(tmp_path / "state"), "MASHLINK_DATABASE_URL": database_url,
                "MASHLINK_BROKER_URL": "memory://", "MASHLINK_SECURITY__AUDIT_KEY": audit_key,
                "MASHLINK_LOG_LEVEL": "WARNING"})
    return subprocess.run([sys.executable, "-m", "mashlink.ops.cli", *args], capture_output=True, text=True,
                          env=env, timeout=180)


def _counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {model.__tablename__: conn.execute(select(func.count()).select_from(model)).scalar_one()
                    for model in (ReferralRow, EnquiryRow, ResponseRow, AuditEventRow)}
    finally:
        engine.dispose()


def test_a_custom_format_backup_restores_into_a_fresh_database_and_its_chain_verifies(
        tmp_path: Path, databases: tuple[str, str]) -> None:
    pg_dump, pg_restore = _tool("pg_dump"), _tool("pg_restore")
    live, restored = databases
    settings = load_settings(state_dir=str(tmp_path / "state"), database_url=live, broker_url="memory://",
                             security={"audit_key": AUDIT_KEY})
    hub = HubService.open(settings)
    try:
        first = hub.submit_referral(referral_data("REF-BAK-1", rag="red"), agencies=["police-synth", "health-synth"])
        hub.submit_referral(referral_data("REF-BAK-2", rag="green"), agencies=["education-synth"])
        police = first.enquiry_for("police-synth")
        hub.handle_responses([_response(police.enquiry_id, "police-synth", referral_id="REF-BAK-1")])
        hub.deadline_tracker().tick(first.enquiry_for("health-synth").due_at)
        hub.record_ops_action("cli:backup-test", "dlq.discarded", "msg-bak-1", "synthetic (queue q, parked for x)")
    finally:
        hub.close()
    anchor = tmp_path / "anchor.json"
    taken = _mashlink(tmp_path, live, "audit", "anchor", "-o", str(anchor))
    assert taken.returncode == 0, taken.stderr

    dump = tmp_path / "mashlink.dump"
    dumped = subprocess.run([pg_dump, "--format=custom", "--file", str(dump), _libpq(live)],
                            capture_output=True, text=True, timeout=300)
    assert dumped.returncode == 0, dumped.stderr
    loaded = subprocess.run([pg_restore, "--no-owner", "--exit-on-error", "--dbname", _libpq(restored), str(dump)],
                            capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr

    live_counts = _counts(live)
    assert live_counts["referrals"] == 2 and live_counts["responses"] == 1 and live_counts["audit_events"] > 5
    assert _counts(restored) == live_counts

    verified = _mashlink(tmp_path, restored, "audit", "verify", "--anchor", str(anchor), "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    result = json.loads(verified.stdout)
    assert result["ok"] is True and result["anchors_checked"] == 1
    assert result["events_checked"] == live_counts["audit_events"] == result["head_sequence"]

    # A backup restored without its audit key cannot be shown intact (nor rewritten to verify).
    wrong = _mashlink(tmp_path, restored, "audit", "verify", "--json",
                      audit_key="another-synthetic-audit-key-000000x000000")
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert json.loads(wrong.stdout)["ok"] is False
