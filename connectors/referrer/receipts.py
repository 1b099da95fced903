"""Delivery receipts: one JSON line per delivered (or parked) outcome, and the delivered-ids store.

``<state_dir>/referrer/receipts.jsonl`` holds, per line::

    {"outcome_id", "referral_id", "message_id", "status": "delivered" | "parked",
     "channel", "kind", "detail", "attempts", "at"}

``channel`` is the configured channel's name (``default`` or a
``by_referrer`` key), never an address; nothing in a receipt is personal
data. The outcome ids with a ``delivered`` line are the idempotency store: a
redelivered outcome is acknowledged without sending again. Lines are
appended and fsynced before the outcome is acknowledged.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..files import append_line

RECEIPTS_FILE = "receipts.jsonl"


class ReceiptStore:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / RECEIPTS_FILE
        self._lock = threading.Lock()
        self._delivered: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            with self.path.open("r", encoding="utf-8") as fh:
                for line in fh:
                    try:
                        row = json.loads(line)
                    except ValueError:
                        continue  # a torn last line after a crash: that outcome is simply sent again
                    if isinstance(row, dict) and row.get("status") == "delivered":
                        self._delivered[str(row.get("outcome_id"))] = row

    def delivered(self, outcome_id: str) -> bool:
        with self._lock:
            return outcome_id in self._delivered

    def delivered_row(self, outcome_id: str) -> dict[str, Any]:
        """The receipt line of a delivered outcome ({} when it was not delivered)."""
        with self._lock:
            return dict(self._delivered.get(outcome_id, {}))

    def record(self, *, outcome_id: str, referral_id: str, message_id: str, status: str, channel: str,
               kind: str, detail: str, attempts: int, at: datetime | None = None) -> dict[str, Any]:
        row = {
            "outcome_id": outcome_id, "referral_id": referral_id, "message_id": message_id, "status": status,
            "channel": channel, "kind": kind, "detail": detail, "attempts": attempts,
            "at": (at or datetime.now(UTC)).isoformat(),
        }
        line = json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n"
        with self._lock:
            append_line(self.path, line)  # fsynced (and the folder, for the first line) before the ack
            if status == "delivered":
                self._delivered[outcome_id] = row
        return row

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        with self.path.open("r", encoding="utf-8") as fh:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out
