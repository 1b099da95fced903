"""How a health connector scores what the trust returns: the configured weights, and unborn children.

Two things every health path (FHIR search, HL7 v2 RRI answers) shares:

* **Weights.** A trust is searched live, so the connector has no index to
  train on; ``matching.model`` names weights trained elsewhere
  (:mod:`mashlink.matching.model_file`), loaded once at start. Without it the
  starting weights (``MatchModel.default()``) are used.
* **Unborn children.** A trust holds a pregnancy on the *mother's* record; there
  is no Patient for the unborn child. So an unborn subject is looked for through
  the mother the enquiry names, and each woman the trust returns is scored the
  way the shared matcher's unborn pass expects: the subject against the trust's
  view of that pregnancy (an unborn child of this patient, expected when the
  referral says), with the referral's mother and the trust's patient passed
  as the two mothers. The mothers decide: the same woman strongly confirmed is
  a match; a different woman is vetoed (``unborn_mother_different``); no mother
  on the referral, nothing to match (``unborn_mother_unknown``).
"""

from __future__ import annotations

from pathlib import Path

from ...config.errors import ConfigError, ConfigIssue
from ...config.matching import MatchPolicy
from ...matching.model import MatchModel
from ...matching.model_file import ModelFileError, TrainedWeights, load_trained_weights
from ...matching.scorer import ScoredPair, Scorer
from ...schemas.person import Person

PREGNANCY_SUFFIX = "#pregnancy"


def health_scorer(policy: MatchPolicy | None = None, weights: TrainedWeights | None = None) -> Scorer:
    """The scorer for a trust: its trained weights and term frequencies if configured, else the defaults."""
    if weights is None:
        return Scorer(MatchModel.default(), policy=policy)
    return Scorer(weights.model, weights.term_frequencies, policy)


def load_configured_weights(policy: MatchPolicy, agency_index: int, *,
                            file: Path | None = None) -> TrainedWeights | None:
    """The weights ``matching.model`` names (None when unset); a ``ConfigError`` naming the key when unusable."""
    if policy.model is None:
        return None
    try:
        return load_trained_weights(policy.model)
    except ModelFileError as exc:
        raise ConfigError([ConfigIssue(path=f"agencies[{agency_index}].matching.model", rule=str(exc))],
                          file=file) from None


def pregnancy_of(patient: Person, subject: Person) -> Person:
    """The trust's view of an unborn subject through ``patient``: her unborn child, due when the referral says.

    The trust's expected date is not read (FHIR and RRI answers carry none the
    spec maps), so the expected dates always agree and the mothers decide.
    """
    return Person(person_id=f"{patient.person_id}{PREGNANCY_SUFFIX}"[:64], unborn=True,
                  expected_birth_date=subject.expected_birth_date, mother_person_id=patient.person_id)


def score_patient(scorer: Scorer, subject: Person, patient: Person, *, mother: Person | None = None) -> ScoredPair:
    """``patient`` scored for ``subject``: directly, or for an unborn subject as the mother of the pregnancy."""
    if subject.unborn:
        return scorer.score(subject, pregnancy_of(patient, subject), subject_mother=mother, record_mother=patient)
    return scorer.score(subject, patient, subject_mother=mother)
