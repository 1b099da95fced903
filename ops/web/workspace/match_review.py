"""Confirm or reject an uncertain identity match from the referral page.

The decision goes through the same service call as ``POST
/referrals/{id}/matches/confirm|reject``: stored with the signed-in
principal, audited, and applied when the linked view is next built, so the
page it redirects to already shows the fact in (or out of) the chronology.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ....config.security import Permission
from ....hub.access import actor_of
from ....hub.errors import Conflict, InvalidInput
from ....hub.match_review import MatchDecisionRequest
from .referrals import begin_action, finish_action

router = APIRouter(include_in_schema=False)


@router.post("/workspace/referrals/{referral_id}/matches")
def decide_match(request: Request, referral_id: str = Path(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$"),
                 csrf_token: str = Form(""), decision: str = Form("", max_length=16),
                 subject_person_id: str = Form("", max_length=64), agency_id: str = Form("", max_length=64),
                 source_system: str = Form("", max_length=200), record_id: str = Form("", max_length=200),
                 reason: str = Form("", max_length=2000)) -> Response:
    workspace, principal = begin_action(request, csrf_token, Permission.MATCH_CONFIRM, referral_id)
    problem = None
    if decision not in ("confirm", "reject"):
        problem = "Choose confirm or reject"
    elif not reason.strip():
        problem = f"Enter why you {decision} record {record_id} for this person"
    else:
        try:
            request_model = MatchDecisionRequest(
                subject_person_id=subject_person_id, agency_id=agency_id, source_system=source_system,
                record_id=record_id, reason=reason.strip(), confirmed=decision == "confirm")
            workspace.hub.service.decide_match(referral_id, request_model, actor=actor_of(principal))
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        except (InvalidInput, Conflict) as exc:
            problem = str(exc)
    errors = [{"field": "linked-records", "text": problem}] if problem else []
    return finish_action(request, workspace, principal, referral_id, errors, {}, "match#linked-records")
