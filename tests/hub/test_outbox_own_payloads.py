"""The relay publishes its own process's outbox rows without signing them again, and still holds back edits.

``UnitOfWork.send`` remembers the digest of each payload it signs
(``hub.outbox.OwnPayloads``); the relay trusts a stored payload only when it
is byte for byte one of those and names the same message id as its row.
Everything else (another process's rows, rows left from before a restart)
gets the full signature check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from mashlink.broker.client import Broker
from mashlink.broker.topology import Topology
from mashlink.hub.models import OutboxRow
from mashlink.hub.outbox import OwnPayloads
from mashlink.hub.service import HubService

from tests.hub.hub_support import referral_data

AGENCIES = ["police-synth", "health-synth", "education-synth", "social-care-synth"]


@pytest.fixture
def broker(hub: HubService, topology: Topology) -> Iterator[Broker]:
    made = Broker("memory://", hub.codec, topology, confirm_timeout_s=10.0)
    made.declare(AGENCIES)
    yield made
    made.close()


@pytest.fixture
def verified(hub: HubService, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The payloads the relay checked by signature (the codec's full check)."""
    calls: list[bytes] = []
    real = hub.codec.verify_bytes

    def counting(raw: bytes) -> dict[str, Any]:
        calls.append(raw)
        return real(raw)

    monkeypatch.setattr(hub.codec, "verify_bytes", counting)
    return calls


def _rows(hub: HubService) -> list[OutboxRow]:
    with hub.factory() as session:
        return list(session.execute(select(OutboxRow).order_by(OutboxRow.id)).scalars())


def test_own_rows_are_published_without_a_second_signature_check(hub: HubService, broker: Broker,
                                                                  verified: list[bytes]) -> None:
    hub.submit_referral(referral_data())
    assert hub.outbox_relay(broker).drain() == 4
    assert verified == []
    assert all(r.published_at is not None for r in _rows(hub))
    assert len(hub.store.own_payloads) == 0  # each entry is used once


def test_rows_this_process_did_not_just_sign_get_the_full_check(hub: HubService, broker: Broker,
                                                                verified: list[bytes]) -> None:
    hub.submit_referral(referral_data())
    for row in _rows(hub):  # as after a restart, or rows another hub wrote: nothing remembered
        hub.store.own_payloads.take(bytes(row.payload))
    assert hub.outbox_relay(broker).drain() == 4
    assert sorted(verified) == sorted(bytes(r.payload) for r in _rows(hub))


def test_an_edited_own_row_is_held_back(hub: HubService, broker: Broker, verified: list[bytes]) -> None:
    hub.submit_referral(referral_data(), agencies=["police-synth"])
    with hub.factory() as session, session.begin():
        row = session.execute(select(OutboxRow)).scalar_one()
        row.payload = bytes(row.payload).replace(b'"amber"', b'"green"')
    done = hub.outbox_relay(broker).relay_once()
    assert (done.published, done.corrupt) == (0, 1)
    assert len(verified) == 1  # the edited bytes were not the ones signed, so the signature decided


def test_an_own_payload_moved_to_another_row_is_held_back(hub: HubService, broker: Broker) -> None:
    hub.submit_referral(referral_data(), agencies=["police-synth", "health-synth"])
    with hub.factory() as session, session.begin():
        first, second = session.execute(select(OutboxRow).order_by(OutboxRow.id)).scalars()
        second.payload = bytes(first.payload)  # authentic bytes, but another message's
    done = hub.outbox_relay(broker).relay_once()
    assert (done.published, done.corrupt) == (1, 1)
    errors = [r.last_error for r in _rows(hub) if r.published_at is None]
    assert errors == ["payload message_id differs from the outbox row"]


def test_own_payloads_are_bounded_and_taken_once() -> None:
    own = OwnPayloads(limit=2)
    for i in range(3):
        own.remember(f"payload-{i}".encode(), f"m{i}", "enquiry")
    assert own.take(b"payload-0") is None  # the oldest was dropped: the full check would run
    assert own.take(b"payload-2") == ("m2", "enquiry")
    assert own.take(b"payload-2") is None
    assert own.take(b"payload-1 edited") is None
