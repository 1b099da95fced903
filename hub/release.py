"""Release: each viewer sees of a linked view only what the sharing policy allows them.

The builder (``linked_view``) already replaces police "do not disseminate"
material with "information held - contact police MASH" for every viewer.
On top of that, per viewer:

* MASH roles (practitioner, manager) see the whole picture: the MASH is
  where the pieces are put together;
* an agency liaison or agency client sees only its own agency: the people as
  that agency's sharing policy minimises them for enquiries (so a school
  liaison never sees an NHS number), its own matches, findings, status and
  issues, and nothing another agency sent;
* anyone else sees no person and no finding.

``agencies_shown`` lists whose material was released, for the disclosure log.
Pure functions: no I/O.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ..config.models import SharingPolicy
from ..config.security import Role
from .auth.authorise import MASH_ROLES
from .auth.principal import Principal
from .linked_models import LinkedSubject, LinkedView
from .linked_view import display_name
from .minimise import minimise_person


class ViewerScope(BaseModel):
    """What one viewer may see: everything (MASH), one agency's share, or nothing."""

    model_config = ConfigDict(frozen=True)

    mash: bool = False
    agency_id: str | None = None

    @classmethod
    def for_principal(cls, principal: Principal, granted_by: frozenset[Role] | None = None) -> "ViewerScope":
        """The scope of the roles that let this viewer in (``granted_by``, from the access decision).

        A person holding a MASH role for one LA and a liaison role for an
        agency, who opens another LA's referral through the liaison role, sees
        what the liaison may see, not the MASH picture.
        """
        roles = principal.roles if granted_by is None else granted_by
        if roles & MASH_ROLES:
            return cls(mash=True)
        return cls(agency_id=principal.agency_id)


def agencies_shown(view: LinkedView) -> list[str]:
    """Agencies whose records appear in a (released) view."""
    shown = {e.agency_id for e in [*view.chronology, *view.for_review]}
    for person in [*view.subjects, *view.household]:
        shown.update(m.agency_id for m in [*person.matches, *person.candidates])
    return sorted(shown)


def _subject_for_agency(subject: LinkedSubject, agency_id: str, policy: SharingPolicy) -> LinkedSubject:
    person = minimise_person(subject.person, policy)
    return subject.model_copy(update={
        "person": person, "display_name": display_name(person),
        "matches": [m for m in subject.matches if m.agency_id == agency_id],
        "candidates": [m for m in subject.candidates if m.agency_id == agency_id],
        "rejected": [m for m in subject.rejected if m.agency_id == agency_id],
    })


def release_view(view: LinkedView, scope: ViewerScope, policies: dict[str, SharingPolicy]) -> LinkedView:
    """The part of ``view`` this viewer may see (a new object; ``view`` is untouched)."""
    if scope.mash:
        return view
    agency_id = scope.agency_id
    policy = policies.get(agency_id) if agency_id else None
    if agency_id is None or policy is None:
        return view.model_copy(update={"subjects": [], "household": [], "agencies": [], "chronology": [],
                                       "for_review": [], "outstanding": [], "issues": [], "record_issues": []})
    return view.model_copy(update={
        "subjects": [_subject_for_agency(s, agency_id, policy) for s in view.subjects],
        "household": [_subject_for_agency(s, agency_id, policy) for s in view.household],
        "agencies": [a for a in view.agencies if a.agency_id == agency_id],
        "chronology": [e for e in view.chronology if e.agency_id == agency_id],
        "for_review": [e for e in view.for_review if e.agency_id == agency_id],
        "outstanding": [a for a in view.outstanding if a == agency_id],
        "issues": [i for i in view.issues if i.agency_id == agency_id],
        "record_issues": [n for n in view.record_issues if n.agency_id == agency_id],
    })
