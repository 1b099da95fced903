"""Model 3 delivery wired from ``options.delivery`` for the police, education and social care builders.

What gets built from :mod:`~mashlink.connectors.delivery.options`:

* ``mode: webhook``: a :class:`WebhookSender` (signed, retried) inside a
  :class:`WebhookChannel`, and the ``answer-server`` background service (an
  :class:`AnswerServer` verifying the agency's signed answers, publishing them
  with an :class:`AnswerPublisher`);
* ``mode: drop_folder``: a :class:`DropFolderChannel` and the ``answer-inbox``
  background service (an :class:`InboxPoller` on a thread).

Composition (:func:`compose`): with ``search: true`` (default) the enquiry is
delivered into the agency's tool *and* searched; the search answer is sent at
once as sequence 1 marked ``more_to_follow``, the agency's own answer follows
as sequence 2, 3, ... . With ``search: false`` the connector only delivers
(:class:`Model3Connector`) and acknowledges.

Delivery happens before the search so that the pending record exists when a
fast agency answers; a redelivered enquiry delivers the same task again
(idempotency key / same file name), which the agency's tool keeps once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from ...config.errors import ConfigError, ConfigIssue
from ..base import AgencyConnector, PermanentEnquiryError
from .answers import AnswerPublisher
from .connector import (
    DeliveryChannel,
    DropFolderChannel,
    Model3Connector,
    Model3Delivery,
    WebhookChannel,
)
from .dropfolder import DropFolder, InboxPoller
from .options import (
    DropFolderDeliveryOptions,
    WebhookDeliveryOptions,
    resolve_path,
)
from .pending import PendingStore
from .receiver import AnswerReceiver, ReleaseRule
from .webhook import AnswerServer, WebhookSender
from ..factory import BackgroundService, ConnectorContext
from ...schemas.codes import AgencyKind, ResponseStatus
from ...schemas.enquiry import Enquiry, EnquiryResponse

log = structlog.get_logger(__name__)


class PeriodicService:
    """Runs ``work`` on a thread every ``interval_s`` (first pass at once) until stopped.

    A failing pass is logged (error type only) and the next one runs as usual:
    a background loop must outlive a bad file or a share that is briefly away.
    """

    def __init__(self, name: str, work: Callable[[], object], interval_s: float) -> None:
        self.name = name
        self.work = work
        self.interval_s = interval_s
        self.passes = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pass_done = threading.Condition()

    def run_once(self) -> object:
        try:
            return self.work()
        except Exception as exc:  # noqa: BLE001 - keep the loop alive
            self.failures += 1
            log.error("connector.background_pass_failed", service=self.name, error=type(exc).__name__)
            return None
        finally:
            with self._pass_done:
                self.passes += 1
                self._pass_done.notify_all()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval_s)

    def wait_passes(self, count: int, timeout_s: float = 30.0) -> bool:
        """Block until ``count`` passes have completed in total (tests and health checks)."""
        with self._pass_done:
            return self._pass_done.wait_for(lambda: self.passes >= count, timeout_s)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"mashlink-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None


class AnswerEndpointService:
    """The web-hook answer endpoint as a background service (``answer-server``)."""

    name = "answer-server"

    def __init__(self, receiver: AnswerReceiver, key: bytes, options: WebhookDeliveryOptions,
                 channel: WebhookChannel, publisher: AnswerPublisher) -> None:
        self.receiver = receiver
        self.key = key
        self.options = options
        self.channel = channel
        self.publisher = publisher
        self.server: AnswerServer | None = None

    def start(self) -> None:
        host, port = self.options.listen
        server = AnswerServer(self.receiver, self.key, host=host, port=port, path=self.options.answer_path,
                              window_s=self.options.replay_window_s)
        try:
            server.start()
        except RuntimeError:
            raise OSError(f"answer endpoint could not listen on {host}:{port} (port in use or not permitted)") \
                from None
        self.server = server
        # reply_to is known only now when the port was 0; tasks carry it from here on.
        self.channel.reply_to = self.options.answer_url or server.answer_url
        log.info("delivery.answer_endpoint_listening", agency_id=self.receiver.agency_id, port=server.port)

    @property
    def answer_url(self) -> str:
        if self.server is None:
            raise RuntimeError("answer endpoint is not running")
        return self.server.answer_url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.publisher.close()


class AnswerInboxService(PeriodicService):
    """The drop folder's answer inbox read on an interval (``answer-inbox``)."""

    def __init__(self, poller: InboxPoller, publisher: AnswerPublisher) -> None:
        super().__init__("answer-inbox", poller.poll_once, poller.interval_s)
        self.poller = poller
        self.publisher = publisher

    def stop(self) -> None:
        super().stop()
        self.publisher.close()


@dataclass
class DeliveryWiring:
    """A built Model 3 delivery: the delivery step, its services and a description for the start-up line."""

    delivery: Model3Delivery
    services: list[BackgroundService] = field(default_factory=list)
    description: str = ""


def build_delivery(ctx: ConnectorContext, options: WebhookDeliveryOptions | DropFolderDeliveryOptions, *,
                   agency_kind: AgencyKind, release: ReleaseRule | None = None,
                   organisation: str | None = None) -> DeliveryWiring:
    """The delivery step and its background services for ``ctx.agency``; ConfigError for a missing key."""
    agency_id = ctx.agency.id
    state_dir = ctx.settings.state_dir
    pending_path = (resolve_path(state_dir, options.pending_file) if options.pending_file
                    else ctx.state_path("delivery.sqlite"))
    pending = PendingStore(pending_path)
    publisher = AnswerPublisher(ctx.broker_factory, agency_id)
    receiver = AnswerReceiver(agency_id, agency_kind, pending, publisher, system=options.system,
                              organisation=organisation, release=release)
    channel: DeliveryChannel
    services: list[BackgroundService]
    if isinstance(options, WebhookDeliveryOptions):
        key, sub_key, problem = options.resolve_key()
        answer_key, answer_sub_key, answer_problem = options.resolve_answer_key()
        missing = [(sub_key, problem)] if key is None else []
        if answer_key is None and answer_sub_key != sub_key:
            missing.append((answer_sub_key, answer_problem))
        if missing or key is None or answer_key is None:
            raise ConfigError([ConfigIssue(path=f"agencies[{ctx.agency_index}].options.delivery.{name}", rule=rule)
                               for name, rule in missing], file=ctx.config_file)
        verify: bool | str = (str(resolve_path(state_dir, options.verify_tls))
                              if isinstance(options.verify_tls, Path) else options.verify_tls)
        sender = WebhookSender(options.url, key, max_attempts=options.max_attempts,
                               backoff_base_s=options.backoff_base_s, backoff_max_s=options.backoff_max_s,
                               timeout_s=options.timeout_s, verify_tls=verify)
        webhook = WebhookChannel(sender, reply_to=options.answer_url)
        channel = webhook
        services = [AnswerEndpointService(receiver, answer_key, options, webhook, publisher)]
        description = f"web hook delivery to {options.url}, answers on {options.answer_listen}"
    else:
        folder = DropFolder(resolve_path(state_dir, options.path), with_outbox=True)
        channel = DropFolderChannel(folder)
        services = [AnswerInboxService(InboxPoller(folder, receiver, interval_s=options.poll_interval_s), publisher)]
        description = f"drop-folder delivery in {folder.root}"
    return DeliveryWiring(Model3Delivery(agency_id, channel, pending), services, description)


class SearchAndDeliverConnector:
    """Model 2 and Model 3 together: deliver the task, answer now from the search, the agency's answer follows."""

    def __init__(self, search: AgencyConnector, delivery: Model3Delivery) -> None:
        self.search = search
        self.delivery = delivery
        self.agency_id = search.agency_id
        self.agency_kind = search.agency_kind

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        if enquiry.agency_id != self.agency_id or enquiry.agency_kind is not self.agency_kind:
            raise PermanentEnquiryError(f"enquiry is not for {self.agency_kind.value} agency {self.agency_id}")
        receipt = self.delivery.deliver(enquiry)
        responses = self.search.handle(enquiry)
        out: list[EnquiryResponse] = []
        for response in responses:
            status = (ResponseStatus.PARTIAL if response.status is ResponseStatus.INFORMATION_FOUND
                      else response.status)
            note = f"Delivered to the agency's own tool ({receipt}); their answer will follow."
            out.append(response.model_copy(update={
                "status": status, "more_to_follow": True,
                "note": " ".join(x for x in (response.note, note) if x),
            }))
        return out


def compose(ctx: ConnectorContext, search: AgencyConnector | None, wiring: DeliveryWiring | None, *,
            agency_kind: AgencyKind, responder: str) -> AgencyConnector:
    """The connector the runtime drives: search only, search and deliver, or deliver only."""
    if wiring is None:
        if search is None:
            raise ValueError("a connector needs search, delivery or both")
        return search
    if search is None:
        return Model3Connector(ctx.agency.id, agency_kind, wiring.delivery, responder=responder)
    return SearchAndDeliverConnector(search, wiring.delivery)

