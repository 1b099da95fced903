"""A small FHIR R4 server for tests and the demo: a synthetic trust's API.

FastAPI + uvicorn on 127.0.0.1 with an ephemeral port (``ThreadedFhirSimulator``
runs it in a background thread). It holds synthetic patients (999-range NHS
numbers) with encounters, flags, conditions, caseloads and related people;
supports read, search with paging (``_count`` + ``link[next]``), comma-separated
values as OR (``birthdate=2012-03-04,2012-04-03``), the ``phonetic`` Patient
parameter (any name part with the same sound key as the value), create and
update (Task, Communication and others, validated with the R4B models so a
bad client write gets a 400 OperationOutcome naming the element; Task and
Communication are searchable by identifier), and fault injection: the
next N requests answer 503 or 429 (with ``Retry-After``) so retry behaviour is
tested against real HTTP. An optional bearer token makes it answer 401.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .fhir_validate import FhirValidationError, validate_resource
from .synthetic import SyntheticPatient
from ...matching.names import phonetic_key
from ...schemas.identifiers import FHIR_NHS_NUMBER_SYSTEM

FHIR_JSON = "application/fhir+json"
VERIFICATION_URL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
ETHNIC_URL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
MRN_SYSTEM = "https://synth-trust.example.nhs.uk/Id/mrn"

SEARCH_PARAMS = {
    "Patient": {"identifier", "family", "given", "birthdate", "address-postalcode", "_id", "phonetic"},
    "Task": {"identifier", "status", "_id", "patient"},
    "Communication": {"identifier", "_id", "subject"},
}
DEFAULT_CLINICAL_PARAMS = {"patient", "subject", "_id"}


def outcome(status: int, code: str, diagnostics: str, expression: list[str] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = expression
    return JSONResponse({"resourceType": "OperationOutcome", "issue": [issue]}, status_code=status,
                        media_type=FHIR_JSON, headers=headers)


@dataclass
class Fault:
    status: int
    remaining: int
    retry_after: str | None = None


@dataclass
class FhirStore:
    """In-memory resources by type and id; also records what requests were made."""

    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    token: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        rtype = resource["resourceType"]
        rid = resource.setdefault("id", uuid.uuid4().hex[:16])
        existing = self.resources.setdefault(rtype, {}).get(rid)
        version = int((existing or {}).get("meta", {}).get("versionId", "0")) + 1
        resource["meta"] = {**resource.get("meta", {}), "versionId": str(version),
                            "lastUpdated": datetime.now(timezone.utc).isoformat()}
        self.resources[rtype][rid] = resource
        return resource

    def inject(self, status: int, count: int, retry_after: str | None = None) -> None:
        """The next ``count`` requests fail with ``status`` (503, 429, 500 ...)."""
        with self.lock:
            self.faults.append(Fault(status, count, retry_after))

    def take_fault(self) -> Fault | None:
        with self.lock:
            while self.faults and self.faults[0].remaining <= 0:
                self.faults.pop(0)
            if not self.faults:
                return None
            self.faults[0].remaining -= 1
            return self.faults[0]


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _patient_matches(res: dict[str, Any], name: str, value: str) -> bool:
    """One search parameter; a comma-separated value is any of its parts (FHIR's OR)."""
    if "," in value and name != "identifier":
        return any(_patient_matches(res, name, part) for part in value.split(",") if part)
    if name == "phonetic":
        # FHIR's ``phonetic``: any part of any name sounds like the value (the shared matcher's sound key).
        wanted = phonetic_key(value)
        return bool(wanted) and any(
            phonetic_key(part) == wanted
            for n in res.get("name", []) for part in [n.get("family", ""), *n.get("given", [])] if part)
    if name == "identifier":
        system, _, val = value.rpartition("|")
        return any(i.get("value") == val and (not system or i.get("system") == system) for i in res.get("identifier", []))
    if name == "family":
        return any(_norm(n.get("family", "")).startswith(_norm(value)) for n in res.get("name", []))
    if name == "given":
        return any(_norm(g).startswith(_norm(value)) for n in res.get("name", []) for g in n.get("given", []))
    if name == "birthdate":
        return res.get("birthDate", "").startswith(value.removeprefix("eq"))
    if name == "address-postalcode":
        return any(_norm(a.get("postalCode", "")).startswith(_norm(value)) for a in res.get("address", []))
    return False


def _ref_matches(res: dict[str, Any], value: str) -> bool:
    target = value if "/" in value else f"Patient/{value}"
    for key in ("subject", "patient", "for"):
        ref = (res.get(key) or {}).get("reference")
        if ref == target:
            return True
    return False


def create_app(store: FhirStore) -> FastAPI:
    app = FastAPI(title="mashlink FHIR R4 simulator", openapi_url=None, docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def faults_and_auth(request: Request, call_next):  # type: ignore[no-untyped-def]
        store.requests.append(f"{request.method} {request.url.path}?{request.url.query}")
        fault = store.take_fault()
        if fault is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return outcome(fault.status, "transient" if fault.status != 429 else "throttled",
                           "injected fault", headers=headers)
        if store.token and request.headers.get("authorization") != f"Bearer {store.token}":
            return outcome(401, "login", "bearer token required")
        return await call_next(request)

    @app.get("/metadata")
    def metadata() -> JSONResponse:
        return JSONResponse({"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
                             "date": date.today().isoformat(), "fhirVersion": "4.0.1", "format": ["json"]},
                            media_type=FHIR_JSON)

    @app.get("/{rtype}/{rid}")
    def read(rtype: str, rid: str) -> JSONResponse:
        res = store.resources.get(rtype, {}).get(rid)
        if res is None:
            return outcome(404, "not-found", f"{rtype}/{rid} is not known")
        return JSONResponse(res, media_type=FHIR_JSON, headers={"ETag": f'W/"{res["meta"]["versionId"]}"'})

    @app.get("/{rtype}")
    def search(rtype: str, request: Request) -> JSONResponse:
        params = dict(request.query_params)
        count = int(params.pop("_count", "10") or 10)
        offset = int(params.pop("_offset", "0") or 0)
        allowed = SEARCH_PARAMS.get(rtype, DEFAULT_CLINICAL_PARAMS)
        unknown = sorted(set(params) - allowed)
        if unknown:
            return outcome(400, "not-supported", f"search parameter(s) not supported: {', '.join(unknown)}",
                           expression=unknown)
        hits = []
        for res in store.resources.get(rtype, {}).values():
            ok = True
            for name, value in params.items():
                if name == "_id":
                    ok = res.get("id") == value
                elif name in ("patient", "subject"):
                    ok = _ref_matches(res, value)
                elif name == "status":
                    ok = res.get("status") == value
                elif rtype in ("Task", "Communication") and name == "identifier":
                    ok = _patient_matches(res, "identifier", value)
                else:
                    ok = _patient_matches(res, name, value)
                if not ok:
                    break
            if ok:
                hits.append(res)
        page = hits[offset : offset + count]
        base = str(request.url.remove_query_params(["_offset"]))
        links = [{"relation": "self", "url": str(request.url)}]
        if offset + count < len(hits):
            sep = "&" if "?" in base else "?"
            links.append({"relation": "next", "url": f"{base}{sep}_offset={offset + count}"})
        bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(hits), "link": links,
                  "entry": [{"fullUrl": f"{str(request.base_url).rstrip('/')}/{rtype}/{r['id']}", "resource": r,
                             "search": {"mode": "match"}} for r in page]}
        return JSONResponse(bundle, media_type=FHIR_JSON)

    async def _body(request: Request, rtype: str) -> dict[str, Any] | JSONResponse:
        try:
            data = await request.json()
        except ValueError:
            return outcome(400, "structure", "body is not JSON")
        try:
            validate_resource(data, rtype)
        except FhirValidationError as exc:
            return outcome(400, "structure", str(exc), expression=exc.paths)
        return data

    @app.post("/{rtype}")
    async def create(rtype: str, request: Request) -> JSONResponse:
        data = await _body(request, rtype)
        if isinstance(data, JSONResponse):
            return data
        data.pop("id", None)
        res = store.put(data)
        return JSONResponse(res, status_code=201, media_type=FHIR_JSON,
                            headers={"Location": f"{rtype}/{res['id']}/_history/{res['meta']['versionId']}"})

    @app.put("/{rtype}/{rid}")
    async def update(rtype: str, rid: str, request: Request) -> JSONResponse:
        data = await _body(request, rtype)
        if isinstance(data, JSONResponse):
            return data
        if data.get("id") != rid:
            return outcome(400, "invariant", "resource id does not match the URL", expression=[f"{rtype}.id"])
        existed = rid in store.resources.get(rtype, {})
        res = store.put(data)
        return JSONResponse(res, status_code=200 if existed else 201, media_type=FHIR_JSON)

    return app


def seed_patient(store: FhirStore, p: SyntheticPatient, *, flags: bool = False, ed: int = 0,
                 cp: bool = False, camhs: bool = False, sexual_health: bool = False) -> str:
    """Add a synthetic patient and optional history; returns the Patient id."""
    pid = f"pat-{p.nhs_number}"
    store.put({
        "resourceType": "Patient", "id": pid,
        "extension": [{"url": ETHNIC_URL, "valueCodeableConcept": {"coding": [{
            "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory", "code": "A", "display": "British"}]}}],
        "identifier": [
            {"system": FHIR_NHS_NUMBER_SYSTEM, "value": p.nhs_number, "extension": [{"url": VERIFICATION_URL,
             "valueCodeableConcept": {"coding": [{"system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland",
                                                  "code": "01", "display": "Number present and verified"}]}}]},
            {"system": MRN_SYSTEM, "value": p.mrn},
        ],
        "name": [{"use": "official", "family": p.family, "given": [p.given, p.middle]}],
        "gender": p.fhir_gender, "birthDate": p.birth_date.isoformat(),
        "address": [{"use": "home", "line": [x for x in (p.line1, p.line2) if x], "city": p.town, "postalCode": p.postcode}],
        "contact": [{"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH"}]}],
                     "name": {"family": p.family, "given": [p.mother_given]}}],
        "managingOrganization": {"reference": "Organization/RXX01"},
    })
    subject = {"reference": f"Patient/{pid}"}
    start = datetime.now(timezone.utc) - timedelta(days=40)
    for i in range(ed):
        when = start + timedelta(days=7 * i)
        store.put({"resourceType": "Encounter", "id": f"enc-{pid}-{i}", "status": "finished",
                   "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
                   "subject": subject, "period": {"start": when.isoformat(), "end": (when + timedelta(hours=4)).isoformat()},
                   "reasonCode": [{"text": "Injury to wrist"}]})
    if flags:
        store.put({"resourceType": "Flag", "id": f"flag-{pid}", "status": "active",
                   "category": [{"coding": [{"system": "https://fhir.nhs.uk/CodeSystem/record-headings", "code": "safeguarding",
                                             "display": "Safeguarding"}]}],
                   "code": {"text": "Safeguarding concern: domestic abuse in household"}, "subject": subject,
                   "period": {"start": (start - timedelta(days=100)).date().isoformat()}})
    if cp:
        store.put({"resourceType": "Flag", "id": f"cp-{pid}", "status": "active",
                   "code": {"coding": [{"system": "https://fhir.nhs.uk/CodeSystem/cp-is", "code": "child-protection-plan",
                                        "display": "Child protection plan"}]}, "subject": subject,
                   "period": {"start": (start - timedelta(days=60)).date().isoformat()}})
    if camhs:
        store.put({"resourceType": "EpisodeOfCare", "id": f"eoc-{pid}", "status": "active",
                   "type": [{"text": "CAMHS"}], "patient": subject,
                   "period": {"start": (start - timedelta(days=30)).date().isoformat()}})
        store.put({"resourceType": "Condition", "id": f"cond-{pid}", "meta": {"security": [{"code": "PSY"}]},
                   "code": {"text": "Anxiety disorder"}, "subject": subject,
                   "onsetDateTime": (start - timedelta(days=90)).date().isoformat()})
    if sexual_health:
        store.put({"resourceType": "Condition", "id": f"sh-{pid}", "meta": {"security": [{"code": "STD"}]},
                   "code": {"text": "Sexual health clinic attendance"}, "subject": subject,
                   "recordedDate": (start - timedelta(days=20)).date().isoformat()})
    store.put({"resourceType": "EpisodeOfCare", "id": f"hv-{pid}", "status": "finished",
               "type": [{"text": "Health visiting"}], "patient": subject,
               "period": {"start": "2015-01-01", "end": "2016-01-01"}})
    store.put({"resourceType": "RelatedPerson", "id": f"rp-{pid}", "patient": subject,
               "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "FTH"}]}],
               "name": [{"family": p.family, "given": ["Paul"]}]})
    return pid


class ThreadedFhirSimulator:
    """Runs the simulator with uvicorn on 127.0.0.1:<ephemeral> in a daemon thread."""

    def __init__(self, store: FhirStore | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store or FhirStore()
        self.app = create_app(self.store)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="fhir-simulator", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ThreadedFhirSimulator":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("FHIR simulator did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> "ThreadedFhirSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
