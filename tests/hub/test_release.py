"""Release per viewer: a property test that no viewer receives what their policy withholds."""

from __future__ import annotations

from hypothesis import given, settings as hsettings, strategies as st

from mashlink.config.security import Role
from mashlink.config.settings import load_settings
from mashlink.hub.auth.principal import Principal
from mashlink.hub.linked_view import build_linked_view
from mashlink.hub.release import ViewerScope, agencies_shown, release_view
from mashlink.schemas.codes import ResponseStatus
from mashlink.schemas.person import PERSON_SHAREABLE_FIELDS
from tests.hub.test_linked_view import (
    EDUCATION,
    HEALTH,
    NOW,
    POLICE,
    SOCIAL,
    enquiry,
    health_responses,
    police_response,
    referral,
    response,
)

SETTINGS = load_settings()
POLICIES = dict(SETTINGS.sharing_policies)
AGENCIES = [POLICE, HEALTH, EDUCATION, SOCIAL]


def _responses() -> list:
    return [police_response(), *health_responses(),
            response(EDUCATION, ResponseStatus.DECLINED, declined="Not necessary"),
            response(SOCIAL, ResponseStatus.NOT_KNOWN)]


viewers = st.builds(
    lambda roles, agency: Principal(subject="viewer", kind="person", roles=frozenset(roles),
                                    local_authorities=frozenset({"999"}), agency_id=agency, issuer="test"),
    st.sets(st.sampled_from(list(Role)), max_size=3),
    st.one_of(st.none(), st.sampled_from(AGENCIES)),
)


@hsettings(max_examples=150, deadline=None)
@given(chosen=st.sets(st.integers(min_value=0, max_value=4)), viewer=viewers)
def test_no_viewer_receives_a_field_or_finding_their_policy_withholds(chosen: set[int], viewer: Principal) -> None:
    ref = referral()
    responses = [r for i, r in enumerate(_responses()) if i in chosen]
    view = build_linked_view(ref, [enquiry(a, ref) for a in AGENCIES], responses, now=NOW)
    scope = ViewerScope.for_principal(viewer)
    released = release_view(view, scope, POLICIES)
    text = released.model_dump_json()
    assert "SECRET-INTEL-TEXT" not in text, "police do-not-disseminate content reached a viewer"
    if viewer.roles & {Role.PRACTITIONER, Role.MANAGER}:
        assert released == view
        return
    if viewer.agency_id is None:
        assert released.subjects == released.household == released.chronology == released.for_review == []
        assert agencies_shown(released) == []
        return
    agency = viewer.agency_id
    policy = POLICIES[agency]
    assert {e.agency_id for e in [*released.chronology, *released.for_review]} <= {agency}
    assert {a.agency_id for a in released.agencies} <= {agency}
    assert set(released.outstanding) <= {agency}
    assert agencies_shown(released) in ([], [agency])
    for subject in [*released.subjects, *released.household]:
        assert {m.agency_id for m in [*subject.matches, *subject.candidates, *subject.rejected]} <= {agency}
        person = subject.person
        for field in PERSON_SHAREABLE_FIELDS:
            value = getattr(person, field)
            if field == "identifiers":
                assert all(policy.allows_identifier(i.system.value) for i in value), (agency, value)
            elif field == "expected_birth_date" and person.unborn:
                continue
            elif not policy.allows_field(field):
                assert value in (None, [], {}), (agency, field, value)
    if agency != POLICE:
        assert "police" not in {e.agency_kind.value for e in released.chronology}
    if agency != HEALTH:
        assert "TWIN-RECORD-CONTENT" not in text and "head injury" not in text


def test_release_leaves_the_full_view_untouched() -> None:
    ref = referral()
    view = build_linked_view(ref, [enquiry(a, ref) for a in AGENCIES], _responses(), now=NOW)
    before = view.model_dump_json()
    release_view(view, ViewerScope(agency_id=EDUCATION), POLICIES)
    assert view.model_dump_json() == before
    assert agencies_shown(view) == sorted({POLICE, HEALTH})
