"""Seeded simulators of a synthetic trust: its FHIR server and its HL7 v2 engine.

One seeding rule shared by ``mashlink health fhir-simulator`` / ``mllp-peer``,
the tests and the demo, so the patient an engineer sees listed by the
simulator is the one a test refers to and the one a sample ADT message names.
Everyone here is synthetic (999-range NHS numbers, invented names).

Seeding rule by patient index: every third patient (0, 3, 6 ...) has a
safeguarding Flag, two ED attendances and a child-protection Flag; every
fourth (0, 4, 8 ...) a CAMHS caseload with a mental-health condition; every
fifth (0, 5 ...) a sexual-health condition.
"""

from __future__ import annotations

from datetime import date

from dataclasses import dataclass

from .fhir_simulator import FhirStore, seed_patient
from .hl7_peer import SyntheticTrustPeer
from .synthetic import SyntheticPatient, synthetic_patients

DEFAULT_SEED = 2024
DEFAULT_PATIENTS = 12


@dataclass(frozen=True)
class SeededPatient:
    patient: SyntheticPatient
    fhir_id: str
    history: tuple[str, ...]


def patient_history(index: int) -> dict[str, bool | int]:
    cp = index % 3 == 0
    return {"flags": cp, "ed": 2 if cp else 0, "cp": cp, "camhs": index % 4 == 0, "sexual_health": index % 5 == 0}


def seeded_patients(count: int = DEFAULT_PATIENTS, seed: int = DEFAULT_SEED, *,
                    as_of: date | None = None) -> list[SyntheticPatient]:
    """Children only, so every seeded patient can be the subject of a MASH referral."""
    return synthetic_patients(count, seed=seed, child_share=1.0, as_of=as_of)


def seed_fhir_store(store: FhirStore, count: int = DEFAULT_PATIENTS, seed: int = DEFAULT_SEED, *,
                    as_of: date | None = None) -> list[SeededPatient]:
    out = []
    for i, patient in enumerate(seeded_patients(count, seed, as_of=as_of)):
        history = patient_history(i)
        fhir_id = seed_patient(store, patient, **history)  # type: ignore[arg-type]
        out.append(SeededPatient(patient, fhir_id, tuple(k for k, v in history.items() if v)))
    return out


def seeded_trust_peer(count: int = DEFAULT_PATIENTS, seed: int = DEFAULT_SEED, *,
                      as_of: date | None = None) -> SyntheticTrustPeer:
    """The MLLP peer answering REF^I12 for the same patients, with findings for those with a history."""
    patients = seeded_patients(count, seed, as_of=as_of)
    findings: dict[str, list[dict[str, str]]] = {}
    for i, p in enumerate(patients):
        items = []
        if patient_history(i)["ed"]:
            items.append({"category": "health.ed_attendance", "record_id": f"ENC-{p.mrn}-1",
                          "summary": "Attended emergency department with a wrist injury", "date": "20240301"})
        if patient_history(i)["cp"]:
            items.append({"category": "health.child_protection_flag", "record_id": f"FLAG-{p.mrn}",
                          "summary": "Child protection plan flag (CP-IS)", "date": "20240115"})
        if items:
            findings[p.nhs_number] = items
    return SyntheticTrustPeer(patients, findings=findings)
