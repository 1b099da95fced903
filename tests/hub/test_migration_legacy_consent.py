"""Referrals stored before consent decisions were required still load after upgrading, marked "not recorded"."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from mashlink.hub.db import drop_schema, make_engine
from mashlink.hub.migrate import current_revision, head_revision, migrate_engine
from mashlink.hub.service import HubService
from tests.hub.hub_support import referral_data


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_legacy_consent_is_filled_with_markers_not_invented_names(backend: str, request: pytest.FixtureRequest,
                                                                  unique_name: str, hub_settings) -> None:  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    schema = None if backend == "sqlite" else f"legacy_{unique_name}"
    engine = make_engine(url, schema=schema)
    try:
        migrate_engine(engine, "0002_disclosures")
        legacy = referral_data("REF-LEGACY")
        legacy["consent"] = {"status": "not_sought", "reason": "Seeking consent would place the child at risk"}
        given = referral_data("REF-GIVEN")
        given["consent"] = {"status": "given"}
        with engine.begin() as conn:
            for data in (legacy, given):
                conn.execute(text(
                    "INSERT INTO referrals (referral_id, received_at, submitted_at, local_authority, rag, status, "
                    "submitted_by, body) VALUES (:id, :at, :at, '999', 'amber', 'open', 'legacy', :body)"),
                    {"id": data["referral_id"], "at": data["received_at"], "body": json.dumps(data)})
        migrate_engine(engine)
        assert current_revision(engine) == head_revision()
        hub = HubService(hub_settings, engine)
        consent = hub.referral("REF-LEGACY").consent
        assert consent.reason == "Seeking consent would place the child at risk"
        assert consent.decided_by is not None and consent.decided_by.startswith("not recorded")
        assert consent.authorised_by is not None and consent.authorised_by.startswith("not recorded")
        assert consent.decided_at == hub.referral("REF-LEGACY").received_at
        untouched = hub.referral("REF-GIVEN").consent
        assert untouched.decided_by is None and untouched.status.value == "given"
    finally:
        if schema is not None:
            drop_schema(engine, schema)
        engine.dispose()
