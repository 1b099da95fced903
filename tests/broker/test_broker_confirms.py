"""Confirm bookkeeping: acks (single and multiple), nacks and returns by delivery tag.

The tracker is pure logic; the RabbitMQ behaviour it relies on (returns
before acks, multiple acks) is exercised for real in test_broker_publish.py.
"""

from __future__ import annotations

from types import SimpleNamespace

from mashlink.broker.link import _ConfirmTracker


def _sent(tracker: _ConfirmTracker, ids: list[str]) -> None:
    for index, mid in enumerate(ids):
        tracker.sent(index, mid)


def test_multiple_ack_confirms_everything_up_to_the_tag() -> None:
    t = _ConfirmTracker()
    _sent(t, ["a", "b", "c", "d"])
    t.on_ack(3, multiple=True)
    assert t.confirmed == {0, 1, 2}
    assert list(t.outstanding) == [4]
    t.on_ack(4, multiple=False)
    assert t.confirmed == {0, 1, 2, 3} and not t.outstanding


def test_nack_fails_only_the_nacked_messages() -> None:
    t = _ConfirmTracker()
    _sent(t, ["a", "b", "c"])
    t.on_nack(2, multiple=True)
    t.on_ack(3)
    assert t.failed.keys() == {0, 1}
    assert t.confirmed == {2}


def test_return_then_ack_is_a_failure_for_that_message_only() -> None:
    t = _ConfirmTracker()
    _sent(t, ["a", "dup", "dup", "z"])
    returned = SimpleNamespace(properties={"message_id": "dup"})
    t.on_return(SimpleNamespace(reply_text="NO_ROUTE"), "ex", "rk", returned)
    t.on_ack(4, multiple=True)
    assert t.failed == {1: "unroutable: exchange 'ex' routing key 'rk' (NO_ROUTE)"}
    assert t.confirmed == {0, 2, 3}


def test_tags_keep_counting_across_publish_calls_on_one_channel() -> None:
    t = _ConfirmTracker()
    _sent(t, ["a"])
    t.on_ack(1)
    t.reset()
    t.sent(0, "b")
    assert list(t.outstanding) == [2]  # RabbitMQ numbers per channel, not per call
    t.on_ack(2)
    assert t.confirmed == {0}
