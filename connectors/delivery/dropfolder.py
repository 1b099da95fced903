"""Drop-folder delivery: tasks written as files, answers picked up from an inbox.

Layout under the agency's folder (an SFTP-style share the agency's tool reads)::

    outbox/     <enquiry id>.json          tasks for the agency (written atomically)
    inbox/      *.json                     answers from the agency (complete files only)
    processed/  answers that were published
    failed/     answers that were refused, each with <name>.reason.txt (field, rule, position)

The folder itself is the connectors' one :class:`~connectors.files.DropFolder`
(shared with CTF ingest); this module adds what is Model 3's own: writing
tasks and turning answer files into published responses.

Only complete files are read: a writer must write ``name.tmp`` (or a hidden
``.name``) and rename it to ``*.json`` when done, exactly as we do for tasks;
``*.tmp``, ``*.part`` and hidden files are ignored. An answer is moved out of
the inbox only after its outcome is durable (published with confirms, or
refused with its reason written), so a crash at any point leaves it in the
inbox to be processed again (idempotent), and nothing is lost.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from ..files import DropFolder, FileRejection, safe_file_name
from .models import DeliveryTask
from .receiver import AnswerReceiver, AnswerRejected

__all__ = ["DropFolder", "InboxPoller", "PollResult", "deliver_task"]

log = structlog.get_logger(__name__)


def deliver_task(folder: DropFolder, task: DeliveryTask) -> Path:
    """Write the task atomically; delivering the same enquiry again replaces it in place (one task)."""
    path = folder.write_out(safe_file_name(task.task_id), task.model_dump_json(indent=2) + "\n")
    log.info("delivery.task_written", task_id=task.task_id, file=path.name)
    return path


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
        for path in self.folder.waiting():
            if path.suffix.lower() != ".json":  # a folder built without the suffix filter
                continue
            try:
                raw = path.read_bytes()
            except FileNotFoundError:  # another poller took it
                continue
            try:
                self.receiver.receive(raw)
            except AnswerRejected as exc:
                # The reason is durable before the answer leaves the inbox: a crash in between re-processes it.
                self.folder.park(path, FileRejection(rule=exc.rule, field=exc.field, position=exc.position,
                                                     detail=exc.message))
                log.warning("delivery.answer_file_failed", file=path.name, field=exc.field, rule=exc.rule)
                result.failed.append(path.name)
                continue
            except Exception as exc:  # noqa: BLE001 - broker unavailable: leave it for the next poll
                log.error("delivery.answer_publish_failed", file=path.name, error=type(exc).__name__)
                result.retry.append(path.name)
                continue
            self.folder.done(path)
            result.published.append(path.name)
        return result

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - a poller must outlive a bad moment on the share
                log.error("delivery.poll_failed", error=type(exc).__name__)
            stop.wait(self.interval_s)
