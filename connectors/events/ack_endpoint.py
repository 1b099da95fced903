"""Explicit acknowledgements from an agency's tool: a signed POST saying a person read the event.

A web hook delivery is ``delivered`` on HTTP 2xx; whether anyone read it is
only known when the tool says so. With ``events.ack_listen`` the connector
serves ``POST <ack_path>`` (default ``/mashlink/events/ack``), signed with the
same HMAC key and replay window as the web hook (``X-Mashlink-Timestamp``,
``X-Mashlink-Signature``), body ``{"event_id": "<the event's id>"}``; each
event the tool receives carries ``ack_url``. Answers: 200
``{"event_id", "status": "acknowledged" | "already"}``; 401 bad or stale
signature; 422 a body that is not that shape (field and rule named); 404 an
event this connector never delivered; 503 the receipt was not confirmed by
the broker (the tool tries again).
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...broker.codec import describe_validation_error
from ..delivery.signing import DEFAULT_WINDOW_S, SignatureError, verify
from ..delivery.webhook import HttpServer
from .consumer import EventsHandler

log = structlog.get_logger(__name__)
DEFAULT_ACK_PATH = "/mashlink/events/ack"


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=64, description="event_id of the delivered event")


def ack_app(handler: EventsHandler, key: bytes, *, path: str = DEFAULT_ACK_PATH,
            window_s: int = DEFAULT_WINDOW_S) -> FastAPI:
    app = FastAPI(title="mashlink events acknowledgement", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(path)
    async def acknowledge(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verify(key, dict(request.headers), body, window_s=window_s)
        except SignatureError as exc:
            log.warning("events.ack_bad_signature", agency_id=handler.agency_id, rule=exc.rule)
            return JSONResponse({"error": "unauthorised", "rule": exc.rule}, status_code=401)
        try:
            ack = AckRequest.model_validate_json(body)
        except ValidationError as exc:
            return JSONResponse({"error": "invalid_acknowledgement",
                                 "detail": describe_validation_error(exc)}, status_code=422)
        try:
            import anyio

            status = await anyio.to_thread.run_sync(handler.acknowledge, ack.event_id,
                                                    "acknowledged by the agency's tool")
        except Exception as exc:  # noqa: BLE001 - the receipt was not confirmed: the tool retries
            log.error("events.ack_receipt_failed", agency_id=handler.agency_id, error=type(exc).__name__)
            return JSONResponse({"error": "try_again"}, status_code=503, headers={"Retry-After": "5"})
        if status == "unknown":
            return JSONResponse({"error": "unknown_event", "event_id": ack.event_id}, status_code=404)
        return JSONResponse({"event_id": ack.event_id, "status": status}, status_code=200)

    return app


class AckEndpoint:
    """The acknowledgement endpoint as a running server, started and stopped with the events consumer."""

    def __init__(self, handler: EventsHandler, key: bytes, *, host: str = "127.0.0.1", port: int = 0,
                 path: str = DEFAULT_ACK_PATH, public_url: str | None = None,
                 window_s: int = DEFAULT_WINDOW_S) -> None:
        self.handler = handler
        self.key = key
        self.host = host
        self.port = port
        self.path = path
        self.public_url = public_url
        self.window_s = window_s
        self.server: HttpServer | None = None

    def start(self) -> str:
        """Listen; returns the URL the tool acknowledges to (``public_url`` when behind a proxy)."""
        server = HttpServer(ack_app(self.handler, self.key, path=self.path, window_s=self.window_s),
                            host=self.host, port=self.port)
        try:
            server.start()
        except RuntimeError:
            raise OSError(f"events acknowledgement endpoint could not listen on {self.host}:{self.port}") from None
        self.server = server
        return self.public_url or server.url + self.path

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
