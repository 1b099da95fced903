"""The agency side of Model 3, simulated: a web-hook receiver and a worklist-folder answerer.

Used by tests and the demo over real HTTP on loopback and real files. The
web-hook receiver verifies the task signature (refusing bad ones with 401),
can be told to fail its first N requests (503) so retries are exercised,
keeps one task per idempotency key, and answers each new task by POSTing a
signed answer to the task's ``reply_to``. The folder answerer reads complete
task files from the outbox and writes answer files into the inbox the way a
well-behaved tool does (temporary name, then rename).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ...config.atomic_files import atomic_write_text, is_temporary
from .dropfolder import DropFolder
from .models import AgencyAnswer, DeliveryTask
from .signing import IDEMPOTENCY_HEADER, SignatureError, sign_headers, verify
from .webhook import HttpServer
from ...schemas.codes import ResponseStatus

AnswerFn = Callable[[DeliveryTask], AgencyAnswer | None]


def not_known_answer(task: DeliveryTask) -> AgencyAnswer:
    return AgencyAnswer(enquiry_id=task.task_id, agency_id=task.agency_id, status=ResponseStatus.NOT_KNOWN,
                        responder="Agency MASH team (simulated)", answered_at=datetime.now(UTC))


class WebhookAgencySimulator(HttpServer):
    def __init__(self, task_key: bytes, answer_key: bytes, answer: AnswerFn = not_known_answer, *,
                 fail_first: int = 0, path: str = "/tasks", answer_in_background: bool = True) -> None:
        self.task_key = task_key
        self.answer_key = answer_key
        self.answer_fn = answer
        self.fail_remaining = fail_first
        self.path = path
        self.requests = 0
        self.rejected_signatures = 0
        self.tasks: dict[str, DeliveryTask] = {}
        self.answer_replies: list[httpx.Response] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.answer_in_background = answer_in_background
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        @app.post(path)
        async def receive(request: Request) -> JSONResponse:
            body = await request.body()
            with self._lock:
                self.requests += 1
                if self.fail_remaining > 0:
                    self.fail_remaining -= 1
                    return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
            try:
                verify(self.task_key, dict(request.headers), body)
            except SignatureError as exc:
                with self._lock:
                    self.rejected_signatures += 1
                return JSONResponse({"error": exc.rule}, status_code=401)
            task = DeliveryTask.model_validate_json(body)
            key = request.headers.get(IDEMPOTENCY_HEADER, task.task_id)
            with self._lock:
                new = key not in self.tasks
                self.tasks.setdefault(key, task)
            if new and self.answer_in_background:
                thread = threading.Thread(target=self.answer_task, args=(task,), daemon=True)
                self._threads.append(thread)
                thread.start()
            return JSONResponse({"task": key, "created": new}, status_code=201 if new else 200)

        super().__init__(app)

    @property
    def task_url(self) -> str:
        return self.url + self.path

    def answer_task(self, task: DeliveryTask, *, key: bytes | None = None) -> httpx.Response | None:
        """POST the answer for ``task`` to its reply_to, signed (with ``key`` to simulate a wrong key)."""
        answer = self.answer_fn(task)
        if answer is None or not task.reply_to:
            return None
        body = answer.model_dump_json().encode("utf-8")
        reply = httpx.post(task.reply_to, content=body, headers=sign_headers(key or self.answer_key, body,
                           idempotency_key=f"{task.task_id}:{answer.sequence}"), timeout=30)
        with self._lock:
            self.answer_replies.append(reply)
        return reply

    def wait_answers(self, timeout_s: float = 30.0) -> None:
        for thread in list(self._threads):
            thread.join(timeout_s)


class WorklistFolderAnswerer:
    """Answers every task file in the outbox once, writing the answer into the inbox atomically."""

    def __init__(self, folder: DropFolder, answer: AnswerFn = not_known_answer) -> None:
        self.folder = folder
        self.answer_fn = answer
        self.answered: set[str] = set()

    def poll_once(self) -> list[Path]:
        written = []
        for path in sorted(self.folder.outbox.glob("*.json")):
            if is_temporary(path) or path.name in self.answered:
                continue
            task = DeliveryTask.model_validate_json(path.read_bytes())
            answer = self.answer_fn(task)
            self.answered.add(path.name)
            if answer is None:
                continue
            target = self.folder.inbox / f"{task.task_id}.answer-{answer.sequence}.json"
            written.append(atomic_write_text(target, answer.model_dump_json(indent=2)))
        return written
