"""Turn an agency's answer (bytes from a web hook or an inbox file) into a published response.

Every way an answer can be wrong is an :class:`AnswerRejected` naming the
field, the rule and the position (JSON line/column for unparsable input, a
JSON path for a bad field); nothing of the answer's content is echoed, so
the reason can be logged and written next to a failed file safely.

Order of effects: validate -> build the canonical response -> publish with
confirms -> record the answer as done. A crash after publishing and before
recording only means the same answer is published again with the same
deterministic message id, which the hub drops.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
from pydantic import ValidationError

from ..base import response_id_for
from .answers import AnswerPublisher
from .models import AgencyAnswer, json_path
from .pending import PendingEnquiry, PendingStore
from ...schemas.codes import AgencyKind
from ...schemas.enquiry import EnquiryResponse, SubjectMatch
from ...schemas.finding import Finding, SourceRef

log = structlog.get_logger(__name__)

#: Sequence 1 is the connector's own first response (acknowledgement or search result).
SEQUENCE_OFFSET = 1
ReleaseRule = Callable[[list[Finding]], list[Finding]]


@contextmanager
def _located(prefix: tuple[object, ...]) -> Iterator[None]:
    """Turn a canonical-model ValidationError into AnswerRejected at ``prefix`` + the error's location."""
    try:
        yield
    except ValidationError as exc:
        first = exc.errors()[0]
        where = json_path((*prefix, *first["loc"]))
        raise AnswerRejected(where, first["type"], first["msg"], where) from None


class AnswerRejected(Exception):
    """A permanent problem with one answer: it will never be accepted as it is."""

    def __init__(self, field: str, rule: str, message: str, position: str | None = None) -> None:
        self.field = field
        self.rule = rule
        self.message = message
        self.position = position or field
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.position}: {self.rule}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message, "position": self.position}


@dataclass(frozen=True)
class Received:
    response: EnquiryResponse
    message_id: str
    duplicate: bool


class AnswerReceiver:
    """Validates, maps and publishes answers for one agency."""

    def __init__(self, agency_id: str, agency_kind: AgencyKind, pending: PendingStore, publisher: AnswerPublisher,
                 *, system: str, organisation: str | None = None, release: ReleaseRule | None = None) -> None:
        self.agency_id = agency_id
        self.agency_kind = AgencyKind(agency_kind)
        self.pending = pending
        self.publisher = publisher
        self.system = system
        self.organisation = organisation
        self.release = release

    # -- parsing -----------------------------------------------------------------
    @staticmethod
    def parse(raw: bytes) -> AgencyAnswer:
        try:
            data = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise AnswerRejected("$", "encoding", "answer is not UTF-8 text", f"byte {exc.start}") from None
        except json.JSONDecodeError as exc:
            raise AnswerRejected("$", "json_syntax", exc.msg, f"line {exc.lineno} column {exc.colno}") from None
        try:
            return AgencyAnswer.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = json_path(tuple(first["loc"]))
            more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
            raise AnswerRejected(where, first["type"], first["msg"] + more, where) from None

    def to_response(self, answer: AgencyAnswer, pending: PendingEnquiry) -> EnquiryResponse:
        if answer.agency_id != self.agency_id:
            raise AnswerRejected("$.agency_id", "wrong_agency", f"this connector answers for {self.agency_id} only")
        kind = self.agency_kind

        def source(record_id: str) -> SourceRef:
            return SourceRef(agency_kind=kind, agency_id=self.agency_id, system=self.system, record_id=record_id,
                             organisation=self.organisation)

        sequence = answer.sequence + SEQUENCE_OFFSET
        findings: list[Finding] = []
        for i, f in enumerate(answer.findings):
            with _located(("findings", i)):
                findings.append(Finding(source=source(f.record_id), **f.model_dump(exclude={"record_id"})))
        if self.release is not None:
            findings = self.release(findings)
        matches: list[SubjectMatch] = []
        for i, m in enumerate(answer.matches):
            with _located(("matches", i)):
                matches.append(SubjectMatch(source=source(m.record_person_id), **m.model_dump()))
        with _located(()):
            return EnquiryResponse(
                response_id=response_id_for(answer.enquiry_id, self.agency_id, sequence),
                enquiry_id=answer.enquiry_id, referral_id=pending.referral_id, agency_id=self.agency_id,
                agency_kind=kind, status=answer.status, declined_reason=answer.declined_reason,
                people=answer.people, matches=matches, findings=findings, relationships=answer.relationships,
                responder=answer.responder, responded_at=answer.answered_at, sequence=sequence,
                more_to_follow=answer.more_to_follow, note=answer.note,
            )

    # -- the whole path ---------------------------------------------------------------
    def receive(self, raw: bytes) -> Received:
        """Validate and publish one answer; raises AnswerRejected (permanent) or PublishError (retry)."""
        answer = self.parse(raw)
        pending = self.pending.get(answer.enquiry_id)
        if pending is None or pending.agency_id != self.agency_id:
            raise AnswerRejected("$.enquiry_id", "unknown_enquiry",
                                 "no enquiry with this id was delivered to this agency")
        response = self.to_response(answer, pending)
        duplicate = pending.answered_response(answer.sequence) is not None
        env = self.publisher.publish(response, pending)  # same message id on a repeat: the hub dedups
        if not duplicate:
            self.pending.mark_answered(answer.enquiry_id, answer.sequence, response.response_id)
        log.info("delivery.answer_published", agency_id=self.agency_id, enquiry_id=answer.enquiry_id,
                 sequence=response.sequence, status=response.status.value, duplicate=duplicate,
                 findings=len(response.findings))
        return Received(response, env.message_id, duplicate)
