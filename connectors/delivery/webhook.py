"""Web-hook delivery: the enquiry POSTed as a signed JSON task, answers POSTed back.

Outbound (:class:`WebhookSender`): the task body is signed (HMAC-SHA256 over
timestamp + body, :mod:`~mashlink.connectors.delivery.signing`) and carries
``Idempotency-Key: <enquiry id>`` so the agency's tool keeps one task however
often it is delivered. 5xx, 429 (``Retry-After`` honoured up to the back-off
cap), time-outs and connection errors are retried with exponential back-off
and full jitter; other 4xx are permanent (the request will never succeed as
it is). Use an ``https://`` URL in production (``verify`` takes a CA bundle).

Inbound (:func:`answer_app`, :class:`AnswerServer`): the agency POSTs its
signed answer to the connector's endpoint; 401 for a bad or stale signature,
422 with field / rule / position for an invalid answer, 503 when the broker
did not confirm (the agency retries), 200 with the response id otherwise
(also for a repeat, which is idempotent).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import httpx
import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .models import DeliveryTask
from .receiver import AnswerReceiver, AnswerRejected
from .signing import DEFAULT_WINDOW_S, SignatureError, sign_headers, verify

log = structlog.get_logger(__name__)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class DeliveryFailed(Exception):
    """Transient: the agency's tool could not be reached in this attempt window (retry the enquiry later)."""


class DeliveryRefused(Exception):
    """Permanent: the agency's tool refused the task (4xx other than 429)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


class WebhookSender:
    def __init__(self, url: str, key: bytes, *, max_attempts: int = 5, backoff_base_s: float = 0.5,
                 backoff_max_s: float = 30.0, timeout_s: float = 10.0, verify_tls: bool | str = True,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.url = url
        self.key = key
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.verify_tls = verify_tls
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.attempts_made = 0  # counters for health checks and tests

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt)); Retry-After wins when given (capped)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.backoff_max_s)
        return self.rng.uniform(0, min(self.backoff_max_s, self.backoff_base_s * (2 ** attempt)))

    def send(self, task: DeliveryTask) -> int:
        """POST the task; returns the final HTTP status. Raises DeliveryRefused / DeliveryFailed."""
        body = task.model_dump_json().encode("utf-8")
        last = "no attempt"
        with httpx.Client(timeout=self.timeout_s, verify=self.verify_tls) as client:
            for attempt in range(self.max_attempts):
                self.attempts_made += 1
                headers = sign_headers(self.key, body, idempotency_key=task.task_id)  # fresh timestamp per try
                retry_after: float | None = None
                try:
                    reply = client.post(self.url, content=body, headers=headers)
                except httpx.TimeoutException:
                    last = "timeout"
                except httpx.TransportError as exc:
                    last = f"transport error {type(exc).__name__}"
                else:
                    if reply.status_code < 300:
                        log.info("delivery.webhook_delivered", task_id=task.task_id, status=reply.status_code,
                                 attempts=attempt + 1)
                        return reply.status_code
                    if reply.status_code not in RETRY_STATUSES:
                        log.warning("delivery.webhook_refused", task_id=task.task_id, enquiry_id=task.enquiry.enquiry_id,
                                    correlation_id=task.enquiry.referral_id, status=reply.status_code,
                                    attempts=attempt + 1, reason=f"HTTP {reply.status_code} (not retried)")
                        raise DeliveryRefused(reply.status_code, reply.text[:200])
                    last = f"HTTP {reply.status_code}"
                    header = reply.headers.get("Retry-After")
                    if header and header.strip().isdigit():
                        retry_after = float(header)
                log.warning("delivery.webhook_retry", task_id=task.task_id, attempt=attempt + 1, problem=last)
                if attempt + 1 < self.max_attempts:
                    self.sleep(self.backoff(attempt, retry_after))
        log.warning("delivery.webhook_failed", task_id=task.task_id, enquiry_id=task.enquiry.enquiry_id,
                    correlation_id=task.enquiry.referral_id, attempts=self.max_attempts, reason=last)
        raise DeliveryFailed(f"web hook not delivered after {self.max_attempts} attempt(s): {last}")


def answer_app(receiver: AnswerReceiver, key: bytes, *, path: str = "/mashlink/answers",
               window_s: int = DEFAULT_WINDOW_S) -> FastAPI:
    """The endpoint the agency's tool POSTs signed answers to."""
    app = FastAPI(title="mashlink answer endpoint", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(path)
    async def answer(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verify(key, dict(request.headers), body, window_s=window_s)
        except SignatureError as exc:
            log.warning("delivery.answer_bad_signature", agency_id=receiver.agency_id, rule=exc.rule)
            return JSONResponse({"error": "unauthorised", "rule": exc.rule, "message": exc.message}, status_code=401)
        try:
            # The receiver blocks on broker confirms: run it off the event loop.
            import anyio

            received = await anyio.to_thread.run_sync(receiver.receive, body)
        except AnswerRejected as exc:
            log.warning("delivery.answer_rejected", agency_id=receiver.agency_id, field=exc.field, rule=exc.rule)
            return JSONResponse({"error": "invalid_answer", **exc.as_dict()}, status_code=422)
        except Exception as exc:  # noqa: BLE001 - broker down or unconfirmed: the agency must retry
            log.error("delivery.answer_publish_failed", agency_id=receiver.agency_id, error=type(exc).__name__)
            return JSONResponse({"error": "try_again"}, status_code=503, headers={"Retry-After": "5"})
        return JSONResponse({"response_id": received.response.response_id, "sequence": received.response.sequence,
                             "duplicate": received.duplicate}, status_code=200)

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


class HttpServer:
    """A uvicorn server in a background thread (port 0 picks a free port; see ``url``)."""

    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 0,
                 tls_cert_file: str | None = None, tls_key_file: str | None = None) -> None:
        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                     access_log=False, ssl_certfile=tls_cert_file, ssl_keyfile=tls_key_file)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, name="mashlink-http", daemon=True)
        self.host = host
        self.scheme = "https" if tls_cert_file else "http"

    def start(self, timeout_s: float = 20.0) -> "HttpServer":
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("HTTP server did not start")
            time.sleep(0.02)
        return self

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def __enter__(self) -> "HttpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AnswerServer(HttpServer):
    """The connector's answer endpoint as a running server."""

    def __init__(self, receiver: AnswerReceiver, key: bytes, *, host: str = "127.0.0.1", port: int = 0,
                 path: str = "/mashlink/answers", window_s: int = DEFAULT_WINDOW_S) -> None:
        super().__init__(answer_app(receiver, key, path=path, window_s=window_s), host=host, port=port)
        self.path = path

    @property
    def answer_url(self) -> str:
        return self.url + self.path
