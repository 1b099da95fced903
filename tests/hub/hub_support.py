"""Helpers shared by the hub tests: a hand-moved clock and synthetic referrals."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from mashlink.schemas.identifiers import nhs_check_digit
from tests.lawful_support import SAFEGUARDING_BASIS, consent_not_sought


class FakeClock:
    """A clock tests move by hand (never sleep to make a deadline pass)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now = self.now + timedelta(**kwargs)
        return self.now



def synthetic_nhs_number(seed: int) -> str:
    """A 999-range NHS number that passes modulus 11."""
    n = seed
    while True:
        first = f"999{n % 1_000_000:06d}"
        check = nhs_check_digit(first)
        if check is not None:
            return f"{first}{check}"
        n += 1


def referral_data(referral_id: str = "REF-0001", *, rag: str = "amber",
                  received_at: datetime | None = None) -> dict:
    """A synthetic referral: one child (with NHS number, UPN, LA id), one unborn sibling, the mother."""
    received = received_at or datetime(2025, 6, 2, 8, 30, tzinfo=timezone.utc)
    return {
        "referral_id": referral_id,
        "received_at": received.isoformat(),
        "local_authority": "999",
        "source": "2A",
        "referrer": "Synthfield Primary School (synthetic)",
        "concerns": ["neglect", "domestic_abuse"],
        "narrative": "Synthetic narrative: child arrives hungry; disclosed shouting at home.",
        "subjects": [
            {
                "person_id": "c1",
                "names": [{"given": ["Ada"], "family": "Testchild"}],
                "birth_date": {"value": "2016-03-14"},
                "sex": "female",
                "identifiers": [
                    {"system": "nhs_number", "value": synthetic_nhs_number(123456)},
                    {"system": "upn", "value": "A123456789012"},
                    {"system": "la_child_id", "value": "LA-77", "scope": "999"},
                ],
                "addresses": [{"lines": ["1 Synthetic Row"], "town": "Synthtown", "postcode": "ZZ99 1ZZ"}],
                "contacts": [{"system": "phone", "value": "07700 900000"}],
            },
            {
                "person_id": "u1",
                "unborn": True,
                "expected_birth_date": (date.today() + timedelta(days=60)).isoformat(),
                "mother_person_id": "m1",
            },
        ],
        "household": [
            {
                "person_id": "m1",
                "names": [{"given": ["Beth"], "family": "Testparent"}],
                "birth_date": {"value": "1990-07-01"},
                "identifiers": [{"system": "nhs_number", "value": synthetic_nhs_number(654321)}],
                "addresses": [{"lines": ["1 Synthetic Row"], "postcode": "ZZ99 1ZZ"}],
            }
        ],
        "relationships": [{"from_person_id": "m1", "to_person_id": "c1", "type": "mother"}],
        "rag_history": [{"rag": rag, "at": received.isoformat(), "by": "mash-screener-1", "reason": "screened"}],
        "lawful_basis": list(SAFEGUARDING_BASIS),
        "consent": consent_not_sought(received, "seeking consent could place the child at risk"),
    }
