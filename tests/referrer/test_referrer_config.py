"""referrer_notify configuration, templates and rendering (no broker)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from mashlink.config.errors import ConfigError
from mashlink.config.referrer import MashContact, ReferrerChannels, ReferrerNotifySettings, default_templates_dir
from mashlink.config.settings import load_settings
from mashlink.connectors.referrer.render import OutcomeRenderer, TemplateProblem
from mashlink.schemas.codes import OutcomeType
from mashlink.schemas.decision import Outcome


def _outcome(kind: OutcomeType = OutcomeType.EARLY_HELP) -> Outcome:
    return Outcome(outcome_id="o1", referral_id="REF-9", decision_id="D-9", outcome=kind,
                   recipient="Synthfield Primary School", summary="Ada Testchild (should never be shown)",
                   sent_at=datetime(2025, 6, 2, 23, 30, tzinfo=timezone.utc))


def test_channel_choice_exact_then_wildcard_then_default() -> None:
    channels = ReferrerChannels.model_validate({
        "by_referrer": {
            "* Medical Practice": {"kind": "email", "to": "gp@x.example"},
            "Oakfield  Medical Practice": {"kind": "email", "to": "oak@x.example"},
        },
    })
    assert channels.channel_for("oakfield medical   practice")[0] == "Oakfield  Medical Practice"
    assert channels.channel_for("Elm Medical Practice")[0] == "* Medical Practice"
    name, channel = channels.channel_for("A member of the public")
    assert name == "default" and channel.to == "mash-outcomes@synthshire.example"
    assert ReferrerChannels(default=None).channel_for("anyone") is None


@pytest.mark.parametrize("channel, rule", [
    ({"kind": "email"}, "needs 'to'"),
    ({"kind": "email", "to": "not-an-address"}, "to"),
    ({"kind": "webhook", "url": "ftp://x.example", "secret": "s" * 20}, "http"),
    ({"kind": "webhook", "url": "https://x.example/hook", "secret": "short"}, "at least 16"),
    ({"kind": "webhook", "url": "https://x.example/hook", "secret": "s" * 20, "to": "a@b.example"}, "not 'to'"),
    ({"kind": "fax", "to": "a@b.example"}, "kind"),
])
def test_bad_channels_name_the_rule(channel: dict, rule: str) -> None:
    with pytest.raises(ValidationError) as err:
        ReferrerChannels.model_validate({"by_referrer": {"X": channel}})
    assert rule in str(err.value)


def test_same_referrer_twice_and_lonely_smtp_username_are_refused() -> None:
    with pytest.raises(ValidationError, match="same referrer"):
        ReferrerChannels.model_validate({"by_referrer": {"A School": {"kind": "email", "to": "a@b.example"},
                                                         "a  school": {"kind": "email", "to": "c@b.example"}}})
    with pytest.raises(ValidationError, match="together"):
        ReferrerNotifySettings.model_validate({"smtp": {"username": "u"}})


def test_settings_field_from_yaml_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().referrer_notify == ReferrerNotifySettings()
    config = tmp_path / "m.yaml"
    config.write_text(
        "referrer_notify:\n"
        "  smtp: {host: smtp.example, port: 587, security: starttls, username: u}\n"
        "  channels:\n"
        "    by_referrer:\n"
        "      Hook Org: {kind: webhook, url: 'https://hook.example/x', secret: xxxxxxxxxxxxxxxxxxxx}\n",
        encoding="utf-8")
    monkeypatch.setenv("MASHLINK_REFERRER_NOTIFY__SMTP__PASSWORD", "from-the-environment")
    settings = load_settings(config)
    notify = settings.referrer_notify
    assert notify.smtp.password is not None and notify.smtp.password.get_secret_value() == "from-the-environment"
    assert notify.channels.channel_for("hook org")[1].kind == "webhook"
    assert "from-the-environment" not in repr(settings)
    bad = tmp_path / "bad.yaml"
    bad.write_text("referrer_notify:\n  channels:\n    default: {kind: email, to: nope}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    assert "referrer_notify.channels.default" in str(err.value)


@pytest.mark.parametrize("kind", list(OutcomeType))
def test_shipped_templates_say_decision_next_steps_contact_and_ask(kind: OutcomeType) -> None:
    renderer = OutcomeRenderer(default_templates_dir(), MashContact(), "Synthshire County Council")
    assert renderer.check() == []
    message = renderer.render(_outcome(kind))
    assert message.subject.startswith("MASH outcome for referral REF-9: ")
    for part in ("Decision (3 June 2025):", "What happens next:", "What we ask of you:", "Who to contact:",
                 "Synthshire MASH, telephone 01632 960000, email mash@synthshire.example", "REF-9"):
        assert part in message.text, (kind, part)
    assert "Ada" not in message.text and "Testchild" not in message.text  # summary is never offered


def test_templates_are_configuration(tmp_path: Path) -> None:
    (tmp_path / "early_help.txt.j2").write_text("Subject: EH {{ referral_id }}\n\nHello {{ contact.name }}.\n")
    renderer = OutcomeRenderer(tmp_path, MashContact(name="Test MASH"), "LA")
    message = renderer.render(_outcome())
    assert (message.subject, message.text) == ("EH REF-9", "Hello Test MASH.\n")
    assert "nfa_advice" in renderer.check()
    with pytest.raises(TemplateProblem, match="no template nfa_advice.txt.j2"):
        renderer.render(_outcome(OutcomeType.NFA_ADVICE))
    (tmp_path / "section_17.txt.j2").write_text("no subject line\n")
    with pytest.raises(TemplateProblem, match="Subject"):
        renderer.render(_outcome(OutcomeType.SECTION_17))
    (tmp_path / "strategy_section_47.txt.j2").write_text("Subject: x {{ child_name }}\n")
    with pytest.raises(TemplateProblem, match="child_name"):  # StrictUndefined: nothing else is in reach
        renderer.render(_outcome(OutcomeType.STRATEGY_SECTION_47))


def test_cli_check(tmp_path: Path) -> None:
    from mashlink.ops.cli import app

    result = CliRunner().invoke(app, ["notify-referrers", "--check"])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output and "default=email" in result.output
    config = tmp_path / "m.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nreferrer_notify:\n  templates_dir: {tmp_path}\n",
                      encoding="utf-8")
    result = CliRunner().invoke(app, ["notify-referrers", "--check", "-f", str(config)])
    assert result.exit_code == 2 and "no usable template for nfa_advice" in result.output
