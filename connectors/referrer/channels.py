"""Delivery channels for referrer outcomes: email over SMTP, or a signed web hook.

Each ``send`` makes one attempt and either returns a short receipt detail
(``"smtp 250"``, ``"http 200"``) or raises:

* :class:`TransientDeliveryError`: worth trying again later (server down,
  time-out, SMTP 4xx, HTTP 408/425/429/5xx); the notifier returns RETRY and
  the broker consumer re-delivers with back-off, parking the outcome with
  ``delivery_limit`` after ``max_attempts``;
* :class:`PermanentDeliveryError`: trying again cannot help (address
  refused, SMTP 5xx, HTTP 4xx); the outcome is parked at once with the
  reason, to be replayed with ``mashlink dlq replay`` once fixed.

Error details name the channel, status and rule, never the message text.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx

from ...config.referrer import ReferrerChannel, SmtpSettings
from ..delivery.signing import sign_headers
from .render import RenderedMessage
from ...schemas.decision import Outcome

RETRY_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
OUTCOME_ID_HEADER = "X-Mashlink-Outcome-Id"


class TransientDeliveryError(Exception):
    """Try again later."""


class PermanentDeliveryError(Exception):
    """Park: this delivery will not succeed as it is."""


def webhook_payload(outcome: Outcome, message: RenderedMessage, contact: dict[str, str]) -> dict[str, object]:
    """The JSON a referrer's web hook receives (the same minimised content as the email)."""
    return {
        "type": "mashlink.referrer_outcome",
        "outcome_id": outcome.outcome_id,
        "referral_id": outcome.referral_id,
        "outcome": outcome.outcome.value,
        "sent_at": outcome.sent_at.isoformat(),
        "subject": message.subject,
        "text": message.text,
        "contact": contact,
    }


class EmailChannel:
    def __init__(self, smtp: SmtpSettings, to: str) -> None:
        self.smtp = smtp
        self.to = to

    def message(self, outcome: Outcome, message: RenderedMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.smtp.from_address
        mail["To"] = self.to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        domain = self.smtp.from_address.rpartition("@")[2]
        # A stable Message-ID: a receiving system can see a repeat as the same message.
        mail["Message-ID"] = f"<outcome-{outcome.outcome_id}@{domain}>" if outcome.outcome_id.isalnum() \
            else make_msgid(domain=domain)
        mail[OUTCOME_ID_HEADER] = outcome.outcome_id
        mail.set_content(message.text)
        return mail

    def _connect(self) -> smtplib.SMTP:
        s = self.smtp
        if s.security == "tls":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=ssl.create_default_context())
        client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        if s.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        return client

    def send(self, outcome: Outcome, message: RenderedMessage, contact: dict[str, str]) -> str:
        mail = self.message(outcome, message)
        try:
            with self._connect() as client:
                if self.smtp.username is not None and self.smtp.password is not None:
                    client.login(self.smtp.username, self.smtp.password.get_secret_value())
                refused = client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _msg in exc.recipients.values()})
            if all(400 <= c < 500 for c in codes):
                raise TransientDeliveryError(f"smtp recipient deferred {codes}") from None
            raise PermanentDeliveryError(f"smtp recipient refused {codes}") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(f"smtp authentication failed ({exc.smtp_code})") from None
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientDeliveryError(f"smtp {exc.smtp_code}") from None
            raise PermanentDeliveryError(f"smtp {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, time-out, TLS, disconnected
            raise TransientDeliveryError(f"smtp {type(exc).__name__}") from None
        if refused:
            raise PermanentDeliveryError("smtp recipient refused")
        return "smtp 250"


class WebhookChannel:
    """POST the outcome as JSON, HMAC-signed, ``Idempotency-Key: <outcome id>``; any 2xx is delivered."""

    def __init__(self, url: str, key: bytes, *, timeout_s: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url
        self.key = key
        self.timeout_s = timeout_s
        self.transport = transport

    def send(self, outcome: Outcome, message: RenderedMessage, contact: dict[str, str]) -> str:
        body = json.dumps(webhook_payload(outcome, message, contact), sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = sign_headers(self.key, body, idempotency_key=outcome.outcome_id)
        headers["X-Request-Id"] = uuid.uuid4().hex
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
                response = client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"webhook {type(exc).__name__}") from None
        if 200 <= response.status_code < 300:
            return f"http {response.status_code}"
        if response.status_code in RETRY_HTTP:
            raise TransientDeliveryError(f"webhook http {response.status_code}")
        raise PermanentDeliveryError(f"webhook http {response.status_code}")


def build_channel(channel: ReferrerChannel, smtp: SmtpSettings) -> EmailChannel | WebhookChannel:
    if channel.kind == "email":
        assert channel.to is not None  # validated by ReferrerChannel
        return EmailChannel(smtp, channel.to)
    assert channel.url is not None and channel.secret is not None
    return WebhookChannel(channel.url, channel.secret.get_secret_value().encode("utf-8"), timeout_s=channel.timeout_s)
