"""Sending one notification to the MASH team: email over SMTP, or a signed web hook.

The same idea as the referrer notifier's channels (``connectors/referrer``),
kept here because the hub may not import connectors: one attempt per call,
returning a short detail (``"smtp 250"``, ``"http 204"``) or raising
:class:`TransientSendError` (try again later: server down, time-out, SMTP 4xx,
HTTP 408/425/429/5xx) or :class:`PermanentSendError` (trying again cannot
help: address refused, SMTP 5xx, other HTTP 4xx).

Web hooks are signed as every mashlink web hook is: ``X-Mashlink-Timestamp``
and ``X-Mashlink-Signature: v1=<hex HMAC-SHA256 of "<timestamp>." + body>``,
with ``Idempotency-Key`` the notification's subject id and channel, so a
receiver can verify with the same code it uses for agency web hooks and drop
a repeat. Errors name the channel and status, never the content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import httpx

from ..config.loop import TeamChannel
from ..config.referrer import SmtpSettings

RETRY_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
TIMESTAMP_HEADER = "X-Mashlink-Timestamp"
SIGNATURE_HEADER = "X-Mashlink-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class TransientSendError(Exception):
    """Try again later."""


class PermanentSendError(Exception):
    """This notification will not go through this channel as configured."""


def sign(key: bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    """The signature headers (the scheme of ``connectors.delivery.signing``)."""
    ts = int(now if now is not None else time.time())
    mac = hmac.new(key, f"{ts}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: f"v1={mac}", "Content-Type": "application/json"}


def send_webhook(channel: TeamChannel, payload: dict[str, Any], idempotency_key: str,
                 transport: httpx.BaseTransport | None = None) -> str:
    assert channel.url is not None and channel.secret is not None  # validated by TeamChannel
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = sign(channel.secret.get_secret_value().encode("utf-8"), body)
    headers[IDEMPOTENCY_HEADER] = idempotency_key
    try:
        with httpx.Client(timeout=channel.timeout_s, transport=transport) as client:
            response = client.post(channel.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise TransientSendError(f"webhook {type(exc).__name__}") from None
    if 200 <= response.status_code < 300:
        return f"http {response.status_code}"
    if response.status_code in RETRY_HTTP:
        raise TransientSendError(f"webhook http {response.status_code}")
    raise PermanentSendError(f"webhook http {response.status_code}")


def send_email(smtp: SmtpSettings, to: str, subject: str, text: str, idempotency_key: str) -> str:
    mail = EmailMessage()
    mail["From"] = smtp.from_address
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    domain = smtp.from_address.rpartition("@")[2]
    safe = "".join(c if c.isalnum() or c in "-." else "-" for c in idempotency_key)
    mail["Message-ID"] = f"<mash-{safe}@{domain}>"  # stable: a repeat is visibly the same message
    mail["X-Mashlink-Notification"] = idempotency_key
    mail.set_content(text)
    try:
        if smtp.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username is not None and smtp.password is not None:
                client.login(smtp.username, smtp.password.get_secret_value())
            refused = client.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _msg in exc.recipients.values()})
        if all(400 <= c < 500 for c in codes):
            raise TransientSendError(f"smtp recipient deferred {codes}") from None
        raise PermanentSendError(f"smtp recipient refused {codes}") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise PermanentSendError(f"smtp authentication failed ({exc.smtp_code})") from None
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise TransientSendError(f"smtp {exc.smtp_code}") from None
        raise PermanentSendError(f"smtp {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientSendError(f"smtp {type(exc).__name__}") from None
    if refused:
        raise PermanentSendError("smtp recipient refused")
    return "smtp 250"
