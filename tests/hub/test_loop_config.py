"""Closing-the-loop settings: defaults, per-LA windows, channels, other LAs."""

from __future__ import annotations

import pytest

from mashlink.config.errors import ConfigError
from mashlink.config.settings import load_settings


def test_shipped_defaults_give_one_working_day_and_email_settles_on_delivery(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(state_dir=str(tmp_path))
    ack = settings.loop.outcome_acknowledgement
    assert ack.window("999").working_hours == 8 and settings.loop.decision.window("998").working_hours == 8
    assert ack.settles("email", "delivered") and not ack.settles("fhir-task", "delivered")
    assert ack.settles("fhir-task", "acknowledged") and not ack.settles("email", "failed")
    assert settings.loop.alerts.channels.for_la("999") == []  # no team channel unless configured
    assert [o.code for o in settings.other_local_authorities] == ["888"]


def test_bad_loop_settings_name_the_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as excinfo:
        load_settings(state_dir=str(tmp_path), loop={
            "decision": {"working_hours": 0},
            "alerts": {"channels": {"default": [{"kind": "webhook", "url": "ftp://x", "secret": "short"}]}}},
            other_local_authorities=[{"code": "888", "name": "No contact"}])
    text = str(excinfo.value)
    assert "loop.decision.working_hours" in text
    assert "loop.alerts.channels.default" in text
    assert "other_local_authorities" in text and "at least one of email, phone, secure_mailbox" in text
