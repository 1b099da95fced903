"""Identifiers as (system, value, scope, check, verification).

There is no shared key across agencies, so identifiers are the strongest
matching evidence the hub has. A value that fails its check digit is *kept*
and marked ``check="failed"``: dropping it would hide a typo an analyst can
still use, and trusting it would merge two different children. Only an
identifier whose check passed can ever be used for an exact match.

NHS numbers from the field need three more rules:

* **Placeholders.** Systems key ten zeros, ten ones, ten nines or an
  ascending run of digits when the real number is not known, and every repeated-digit
  number passes modulus 11. Such a value is kept with ``check="placeholder"``
  and is never trusted: two unrelated children sharing ten zeros are not
  the same child. The list is ``NHS_PLACEHOLDERS``.
* **Digits are normalised.** Full-width (``９４３４７６５８７０``) and other
  Unicode decimal digits are folded to ASCII (NFKC, then each decimal digit to
  ``0-9``) before the check, so the stored value is the canonical ASCII number.
* **Verification status sets trust.** A number whose status says it was not
  traced or the trace failed (``NHS_UNTRACED_STATUSES``: 02, 03, 04, 05, 06,
  07, 08) keeps ``check="passed"`` if its digits are valid but is not
  ``trusted``: it is never an exact-match key nor a veto. Only 01 (verified)
  or no status at all (most feeds do not send one) leaves a valid number
  trusted.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from .base import CanonicalModel, rule_error


class IdentifierSystem(StrEnum):
    """Which agency namespace an identifier lives in."""

    NHS_NUMBER = "nhs_number"
    UPN = "upn"
    LA_CHILD_ID = "la_child_id"
    POLICE_PERSON_ID = "police_person_id"
    PNC_ID = "pnc_id"
    HOSPITAL_MRN = "hospital_mrn"
    SCHOOL_URN = "school_urn"
    OTHER = "other"


#: Systems whose values are only unique inside an organisation (LA, force, trust).
SCOPED_SYSTEMS: frozenset[IdentifierSystem] = frozenset(
    {
        IdentifierSystem.LA_CHILD_ID,
        IdentifierSystem.POLICE_PERSON_ID,
        IdentifierSystem.HOSPITAL_MRN,
    }
)

FHIR_NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"

UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
UPN_UNKNOWN_CODES: frozenset[str] = frozenset(f"UN{i}" for i in range(1, 8))

_NHS_RE = re.compile(r"^\d{10}$")
_UPN_RE = re.compile(r"^[A-Z]\d{11}[0-9A-Z]$")
_URN_RE = re.compile(r"^\d{6}$")
_PNC_RE = re.compile(r"^\d{2,4}/\d{1,7}[A-Z]$")


class VerificationStatus(StrEnum):
    """NHS number verification status (FHIR extension codes; HL7 v2 PID-32 NSTS01-08)."""

    VERIFIED = "01"
    NOT_VERIFIED = "02"
    TRACE_REQUIRED = "03"
    TRACE_ATTEMPTED_NO_MATCH = "04"
    TRACE_NEEDS_RESOLUTION = "05"
    TRACE_IN_PROGRESS = "06"
    NOT_PRESENT_TRACE_NOT_REQUIRED = "07"
    TRACE_POSTPONED = "08"


CheckResult = Literal["passed", "failed", "not_applicable", "unknown_code", "placeholder"]

#: Statuses saying the NHS number was not traced, the trace failed or is pending:
#: such a number is kept but never used as strong matching evidence.
NHS_UNTRACED_STATUSES: frozenset[VerificationStatus] = frozenset(
    {
        VerificationStatus.NOT_VERIFIED,
        VerificationStatus.TRACE_REQUIRED,
        VerificationStatus.TRACE_ATTEMPTED_NO_MATCH,
        VerificationStatus.TRACE_NEEDS_RESOLUTION,
        VerificationStatus.TRACE_IN_PROGRESS,
        VerificationStatus.NOT_PRESENT_TRACE_NOT_REQUIRED,
        VerificationStatus.TRACE_POSTPONED,
    }
)

#: NHS numbers keyed as "unknown": every repeated digit (all pass modulus 11)
#: and the ascending / descending runs systems use as dummies.
NHS_PLACEHOLDERS: frozenset[str] = frozenset(
    {str(d) * 10 for d in range(10)}
    | {"".join(str((start + step * i) % 10) for i in range(10)) for start, step in ((0, 1), (1, 1), (9, -1), (0, -1))}
)

# Enum members as module constants: ``IdentifierSystem.NHS_NUMBER`` is an
# attribute lookup through the enum metaclass (hundreds of ns), and the
# validator below runs for every identifier of every record.
_NHS = IdentifierSystem.NHS_NUMBER
_UPN = IdentifierSystem.UPN
_SCHOOL_URN = IdentifierSystem.SCHOOL_URN
_PNC = IdentifierSystem.PNC_ID
_NHS_DETAIL = "NHS number must be 10 digits passing the modulus 11 check"
_NHS_PLACEHOLDER_DETAIL = "NHS number is a placeholder (unknown number), never used for matching"


_NHS_SEPARATORS_RE = re.compile(r"[\s-]")
#: Sum of the modulus 11 weights 10..2: lets the ASCII fast path subtract ord("0") once.
_NHS_WEIGHT_SUM = 54


def nhs_number_is_valid(value: str) -> bool:
    """Modulus 11 check of a 10-digit NHS number (check digit 10 is never valid)."""
    if not _NHS_RE.match(value):
        return False
    if value.isascii():
        # Runs for every NHS number of every record: byte arithmetic, no per-digit int().
        b = value.encode("ascii")
        total = (10 * b[0] + 9 * b[1] + 8 * b[2] + 7 * b[3] + 6 * b[4] + 5 * b[5] + 4 * b[6] + 3 * b[7]
                 + 2 * b[8] - 48 * _NHS_WEIGHT_SUM)
    else:  # other Unicode decimal digits (\d matches them)
        total = sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(value[9])


def nhs_check_digit(first_nine: str) -> int | None:
    """The modulus 11 check digit for nine digits, or None when none exists (remainder 10)."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def _ascii_digits(value: str) -> str:
    """NFKC (full-width forms), then every Unicode decimal digit as its ASCII digit."""
    value = unicodedata.normalize("NFKC", value)
    if value.isascii():
        return value
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in value)


def normalise_nhs_number(value: str) -> str:
    """ASCII digits without spaces or hyphens (NHS numbers are often written 999 123 4567)."""
    if not value.isascii():
        value = _ascii_digits(value)
    if value.isdecimal():  # the usual case: nothing to strip
        return value
    return _NHS_SEPARATORS_RE.sub("", value)


def nhs_number_is_placeholder(value: str) -> bool:
    """True for a normalised NHS number that stands for "not known" (``NHS_PLACEHOLDERS``)."""
    return value in NHS_PLACEHOLDERS


def upn_check_letter(body: str) -> str:
    """The DfE check letter for the 12 characters after it.

    Characters 2-13 are weighted 2..13; a letter in position 13 (temporary
    UPN) counts as its index in the UPN alphabet. The weighted sum modulo 23
    indexes ``ABCDEFGHJKLMNPQRTUVWXYZ``.
    """
    total = 0
    for weight, ch in zip(range(2, 14), body):
        digit = UPN_ALPHABET.index(ch) if ch.isalpha() else int(ch)
        total += digit * weight
    return UPN_ALPHABET[total % 23]


def upn_is_valid(value: str) -> bool:
    """True when the 13-character UPN's check letter matches."""
    if not _UPN_RE.match(value):
        return False
    if value[-1].isalpha() and value[-1] not in UPN_ALPHABET:
        return False
    return upn_check_letter(value[1:]) == value[0]


def upn_is_temporary(value: str) -> bool:
    """Temporary UPNs end with a letter instead of a digit."""
    return len(value) == 13 and value[-1].isalpha()


class Identifier(CanonicalModel):
    """One identifier of a person or organisation, with the result of its check.

    ``scope`` says which organisation issued a scoped id (LA code, force code,
    ODS code); ``check`` is computed, never taken on trust from input.
    """

    system: IdentifierSystem
    value: str = Field(min_length=1, max_length=64)
    scope: str | None = Field(default=None, description="Issuing LA, force or organisation code")
    check: CheckResult = "not_applicable"
    check_detail: str | None = None
    verification: VerificationStatus | None = Field(
        default=None, description="NHS number verification status (01-08)"
    )
    temporary: bool = False

    @model_validator(mode="after")
    def _run_checks(self) -> "Identifier":
        # ``check``, ``check_detail`` and (for UPNs) ``temporary`` are always
        # recomputed here: an input that claims check="passed" is not believed.
        system = self.system
        check: CheckResult = "not_applicable"
        detail: str | None = None
        value = self.value
        if system is _NHS:
            value = normalise_nhs_number(value)
            if value in NHS_PLACEHOLDERS:
                check, detail = "placeholder", _NHS_PLACEHOLDER_DETAIL
            else:
                ok = nhs_number_is_valid(value)
                check = "passed" if ok else "failed"
                detail = None if ok else _NHS_DETAIL
        elif system is _UPN:
            value = value.upper()
            if value in UPN_UNKNOWN_CODES:
                check, detail = "unknown_code", f"UPN not known ({value})"
                object.__setattr__(self, "temporary", False)
            else:
                ok = upn_is_valid(value)
                check = "passed" if ok else "failed"
                object.__setattr__(self, "temporary", upn_is_temporary(value))
                detail = (
                    None
                    if ok
                    else "UPN must be a check letter, 11 digits and a digit or letter, with a matching check letter"
                )
        elif system is _SCHOOL_URN:
            ok = bool(_URN_RE.match(value))
            check = "passed" if ok else "failed"
            detail = None if ok else "school URN must be 6 digits"
        elif system is _PNC:
            value = value.upper()
            ok = bool(_PNC_RE.match(value))
            check = "passed" if ok else "failed"
            detail = None if ok else "PNC id must look like YY/NNNNNNNA"
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "check", check)
        object.__setattr__(self, "check_detail", detail)
        if system in SCOPED_SYSTEMS and not self.scope:
            raise rule_error(
                "Identifier",
                ("scope",),
                "scope_required",
                f"{system.value} identifiers are only unique within an organisation: scope is required",
                self.scope,
            )
        if self.verification is not None and system is not _NHS:
            raise rule_error(
                "Identifier",
                ("verification",),
                "verification_nhs_only",
                "verification status applies to NHS numbers only",
                self.verification.value,
            )
        return self

    @property
    def untraced(self) -> bool:
        """An NHS number whose verification status says it was not traced (``NHS_UNTRACED_STATUSES``)."""
        return self.verification is not None and self.verification in NHS_UNTRACED_STATUSES

    @property
    def trusted(self) -> bool:
        """Usable for an exact match: its check passed (or it has no check), it is not temporary,
        not a placeholder and, for an NHS number, not flagged untraced by its verification status."""
        return self.check in ("passed", "not_applicable") and not self.temporary and not self.untraced

    @property
    def key(self) -> tuple[str, str | None, str]:
        """Identity key for exact matching: scoped systems include their scope."""
        return (self.system.value, self.scope if self.system in SCOPED_SYSTEMS else None, self.value)
