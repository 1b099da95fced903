"""Drop-folder delivery: tasks written as files, answers picked up from an inbox.

Layout under the agency's folder (an SFTP-style share the agency's tool reads)::

    outbox/     <enquiry id>.json          tasks for the agency (written atomically)
    inbox/      *.json                     answers from the agency (complete files only)
    processed/  answers that were published
    failed/     answers that were refused, each with <name>.reason (field, rule, position)

Only complete files are read: a writer must write ``name.tmp`` (or a hidden
``.name``) and rename it to ``*.json`` when done, exactly as we do for tasks;
``*.tmp``, ``*.part`` and hidden files are ignored. An answer is moved out of
the inbox only after its outcome is durable (published with confirms, or
refused with its reason written), so a crash at any point leaves it in the
inbox to be processed again (idempotent), and nothing is lost.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from ...config.atomic_files import atomic_move, atomic_write_text, free_name, is_temporary
from .models import DeliveryTask
from .receiver import AnswerReceiver, AnswerRejected

log = structlog.get_logger(__name__)


class DropFolder:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.outbox = self.root / "outbox"
        self.inbox = self.root / "inbox"
        self.processed = self.root / "processed"
        self.failed = self.root / "failed"
        for folder in (self.outbox, self.inbox, self.processed, self.failed):
            folder.mkdir(parents=True, exist_ok=True)

    def task_path(self, task_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in task_id)
        return self.outbox / f"{safe}.json"

    def deliver(self, task: DeliveryTask) -> Path:
        """Write the task atomically; delivering the same enquiry again replaces it in place (one task)."""
        path = self.task_path(task.task_id)
        atomic_write_text(path, task.model_dump_json(indent=2) + "\n")
        log.info("delivery.task_written", task_id=task.task_id, file=path.name)
        return path

    def answers_waiting(self) -> list[Path]:
        files = [p for p in self.inbox.iterdir() if p.is_file() and p.suffix == ".json" and not is_temporary(p)]
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


@dataclass
class PollResult:
    published: list[str] = field(default_factory=list)  # file names
    failed: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)


class InboxPoller:
    """Processes answer files; ``poll_once`` for tests and cron-style use, ``run`` for a thread."""

    def __init__(self, folder: DropFolder, receiver: AnswerReceiver, *, interval_s: float = 2.0) -> None:
        self.folder = folder
        self.receiver = receiver
        self.interval_s = interval_s

    def poll_once(self) -> PollResult:
        result = PollResult()
        for path in self.folder.answers_waiting():
            try:
                raw = path.read_bytes()
            except FileNotFoundError:  # another poller took it
                continue
            try:
                self.receiver.receive(raw)
            except AnswerRejected as exc:
                self._fail(path, exc)
                result.failed.append(path.name)
                continue
            except Exception as exc:  # noqa: BLE001 - broker unavailable: leave it for the next poll
                log.error("delivery.answer_publish_failed", file=path.name, error=type(exc).__name__)
                result.retry.append(path.name)
                continue
            atomic_move(path, self.folder.processed)
            result.published.append(path.name)
        return result

    def _fail(self, path: Path, exc: AnswerRejected) -> None:
        reason = {"file": path.name, **exc.as_dict(), "failed_at": datetime.now(UTC).isoformat()}
        # The reason is durable before the answer leaves the inbox: a crash in between re-processes it.
        target = free_name(self.folder.failed, path.name)
        atomic_write_text(target.with_name(target.name + ".reason"), json.dumps(reason, indent=2) + "\n")
        atomic_move(path, self.folder.failed, target)
        log.warning("delivery.answer_file_failed", file=path.name, field=exc.field, rule=exc.rule)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - a poller must outlive a bad moment on the share
                log.error("delivery.poll_failed", error=type(exc).__name__)
            stop.wait(self.interval_s)
