"""A FHIR R4 REST client for a trust's API, over httpx, built for unreliable networks.

* Retries 429 and 5xx (and connection errors / timeouts) with exponential
  back-off and jitter, honouring ``Retry-After`` (seconds or HTTP date) up to
  a cap; gives up with ``FhirUnavailable`` after ``max_attempts``.
* 401/403 are never retried (``FhirAuthError``): a bad credential does not get
  better by hammering the server. 404 on a read is ``None`` ("not known").
* Error bodies that are ``OperationOutcome`` are parsed into ``FhirError.issues``
  (severity, code, diagnostics, expression).
* Searches follow ``Bundle.link[relation=next]`` up to ``max_pages``.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from .oauth import TokenError
from ...schemas.identifiers import FHIR_NHS_NUMBER_SYSTEM

log = structlog.get_logger("mashlink.connectors.health.fhir")

FHIR_JSON = "application/fhir+json"


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=4, ge=1, le=20)
    backoff_base: float = Field(default=0.25, ge=0)
    backoff_max: float = Field(default=8.0, ge=0)
    max_retry_after: float = Field(default=30.0, ge=0, description="Cap on a server's Retry-After")
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})


class FhirClientSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    timeout: float = Field(default=10.0, gt=0)
    bearer_token: SecretStr | None = None
    ca_file: Path | None = Field(default=None, description="CA bundle for the server's certificate (default: system)")
    page_size: int = Field(default=50, ge=1, le=1000)
    max_pages: int = Field(default=20, ge=1)
    retry: RetryPolicy = RetryPolicy()


class FhirError(Exception):
    """A FHIR server said no; ``issues`` come from its OperationOutcome when it sent one."""

    def __init__(self, status: int, message: str, issues: list[dict[str, Any]] | None = None) -> None:
        self.status = status
        self.issues = issues or []
        detail = "; ".join(
            f"{i.get('severity', '?')}/{i.get('code', '?')}"
            + (f" at {','.join(i['expression'])}" if i.get("expression") else "")
            + (f": {i['diagnostics']}" if i.get("diagnostics") else "")
            for i in self.issues
        )
        super().__init__(f"HTTP {status}: {message}" + (f" ({detail})" if detail else ""))


class FhirAuthError(FhirError):
    """401/403: credentials or permissions; not retried."""


class FhirUnavailable(FhirError):
    """Retries exhausted (429/5xx/timeouts)."""


def _issues(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return [i for i in body.get("issue", []) if isinstance(i, dict)]
    return []


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class FhirClient:
    """Synchronous FHIR client (connectors run in worker threads)."""

    def __init__(
        self,
        settings: FhirClientSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.settings = settings
        self.base = settings.base_url.rstrip("/") + "/"
        headers = {"Accept": FHIR_JSON}
        if settings.bearer_token is not None:
            headers["Authorization"] = f"Bearer {settings.bearer_token.get_secret_value()}"
        # ``auth`` (e.g. OAuth client credentials) sets the Authorization header per request.
        self._http = httpx.Client(timeout=settings.timeout, headers=headers, auth=auth,
                                  verify=ssl.create_default_context(cafile=settings.ca_file) if settings.ca_file
                                  else True)
        self._auth = auth
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.attempts = 0  # total HTTP attempts made, for operators and tests

    def close(self) -> None:
        self._http.close()
        closer = getattr(self._auth, "close", None)
        if callable(closer):
            closer()

    def __enter__(self) -> "FhirClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------
    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        policy = self.settings.retry
        last: Exception | None = None
        for attempt in range(1, policy.max_attempts + 1):
            self.attempts += 1
            wait: float | None = None
            try:
                response = self._http.request(method, url, **kwargs)
            except TokenError as exc:  # the OAuth token endpoint refused us: an authorisation problem
                raise FhirAuthError(exc.status, f"no access token: {exc.detail}") from None
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = exc
                log.warning("fhir.transport_error", method=method, attempt=attempt, error_type=type(exc).__name__)
            else:
                status = response.status_code
                if status in (401, 403):
                    raise FhirAuthError(status, "not authorised by the FHIR server", _issues(response))
                if status not in policy.retry_statuses:
                    return response
                last = FhirError(status, "server busy or failing", _issues(response))
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                log.warning("fhir.retryable_status", method=method, status=status, attempt=attempt)
            if attempt == policy.max_attempts:
                break
            if wait is None:
                wait = min(policy.backoff_max, policy.backoff_base * (2 ** (attempt - 1)))
                wait *= 0.5 + self._rng.random() / 2
            self._sleep(min(wait, policy.max_retry_after))
        status = last.status if isinstance(last, FhirError) else 0
        issues = last.issues if isinstance(last, FhirError) else []
        raise FhirUnavailable(status, f"gave up after {policy.max_attempts} attempts: {last}", issues)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise FhirError(response.status_code, "request failed", _issues(response))
        try:
            body = response.json()
        except ValueError:
            raise FhirError(response.status_code, "response is not JSON") from None
        if not isinstance(body, dict):
            raise FhirError(response.status_code, "response is not a FHIR resource")
        return body

    # -- operations ----------------------------------------------------------
    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """The resource, or None when the server says 404/410 (not known)."""
        response = self._request("GET", urljoin(self.base, f"{resource_type}/{resource_id}"))
        if response.status_code in (404, 410):
            return None
        return self._json(response)

    def search_pages(self, resource_type: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Each searchset Bundle page, following link[next]."""
        query = {"_count": str(self.settings.page_size), **params}
        response = self._request("GET", urljoin(self.base, resource_type), params=query)
        for page in range(self.settings.max_pages):
            bundle = self._json(response)
            if bundle.get("resourceType") != "Bundle":
                raise FhirError(response.status_code, "search did not return a Bundle")
            yield bundle
            nxt = next((l.get("url") for l in bundle.get("link", []) if l.get("relation") == "next"), None)
            if not nxt:
                return
            response = self._request("GET", urljoin(self.base, nxt))
        log.warning("fhir.page_limit", resource_type=resource_type, max_pages=self.settings.max_pages)

    def search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """All matching resources of ``resource_type`` (``search.mode`` match), across pages."""
        out: list[dict[str, Any]] = []
        for bundle in self.search_pages(resource_type, params):
            for entry in bundle.get("entry", []) or []:
                resource = entry.get("resource") or {}
                mode = (entry.get("search") or {}).get("mode", "match")
                if resource.get("resourceType") == resource_type and mode == "match":
                    out.append(resource)
        return out

    def search_patient_by_nhs_number(self, nhs_number: str) -> list[dict[str, Any]]:
        return self.search("Patient", {"identifier": f"{FHIR_NHS_NUMBER_SYSTEM}|{nhs_number}"})

    def search_patient_by_demographics(
        self, *, family: str | None = None, given: str | None = None, birthdate: str | None = None,
        postcode: str | None = None,
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("family", family), ("given", given), ("birthdate", birthdate),
                                    ("address-postalcode", postcode)) if v}
        if not params:
            raise ValueError("a demographic search needs at least one of family, given, birthdate, postcode")
        return self.search("Patient", params)

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        response = self._request("POST", urljoin(self.base, resource["resourceType"]), json=resource,
                                 headers={"Content-Type": FHIR_JSON})
        return self._json(response)

    def update(self, resource: dict[str, Any]) -> dict[str, Any]:
        response = self._request("PUT", urljoin(self.base, f"{resource['resourceType']}/{resource['id']}"),
                                 json=resource, headers={"Content-Type": FHIR_JSON})
        return self._json(response)
