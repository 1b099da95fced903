"""Runtime knobs live in the settings object: broker_runtime, hub_runtime, connector_runtime (env, YAML, validation)."""

from __future__ import annotations

import copy

import pytest

from mashlink.broker import Broker, EnvelopeCodec, Topology
from mashlink.config import ConfigError, load_settings
from mashlink.config.settings import BrokerRuntimeSettings, HubRuntimeSettings, RunnerSettings
from mashlink.connectors.runtime import RunnerSettings as RunnerSettingsFromRuntime


def test_defaults_are_the_ones_the_constructors_had() -> None:
    settings = load_settings()
    broker = settings.broker_runtime
    assert (broker.confirm_timeout_s, broker.heartbeat_s, broker.publish_window, broker.max_attempts,
            broker.retry_backoff_s, broker.retry_backoff_max_s, broker.reconnect_attempts,
            broker.polling_interval_s, broker.connect_timeout_s) == (10.0, 30, 1000, 5, 1.0, 60.0, 5, 0.01, 5.0)
    hub = settings.hub_runtime
    assert (hub.tick_interval_s, hub.relay_batch_size, hub.consumer_prefetch, hub.consumer_max_batch,
            hub.consumer_max_wait_s, hub.restart_wait_s) == (5.0, 200, 200, 100, 0.02, 1.0)
    runner = settings.connector_runtime
    assert (runner.red_workers, runner.standard_workers, runner.inline_batch, runner.hub_id) == (2, 4, 32, "hub")
    assert RunnerSettingsFromRuntime is RunnerSettings  # one definition, re-exported where the runner lives


def test_environment_sets_each_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_BROKER_RUNTIME__PUBLISH_WINDOW", "64")
    monkeypatch.setenv("MASHLINK_HUB_RUNTIME__TICK_INTERVAL_S", "0.5")
    monkeypatch.setenv("MASHLINK_CONNECTOR_RUNTIME__RED_WORKERS", "3")
    settings = load_settings()
    assert settings.broker_runtime.publish_window == 64
    assert settings.hub_runtime.tick_interval_s == 0.5
    assert settings.connector_runtime.red_workers == 3


def test_yaml_sets_a_section_and_a_bad_value_names_field_and_rule(default_data: dict, write_config) -> None:
    data = copy.deepcopy(default_data)
    data["broker_runtime"] = {"max_attempts": 7}
    assert load_settings(write_config(data, "ok.yaml")).broker_runtime.max_attempts == 7
    data["broker_runtime"] = {"publish_window": 0}
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(data, "bad.yaml"))
    [issue] = info.value.issues
    assert issue.path == "broker_runtime.publish_window" and "greater than or equal to 1" in issue.rule
    data["broker_runtime"] = {"retry_backoff_s": 10, "retry_backoff_max_s": 2}
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(data, "order.yaml"))
    assert "retry_backoff_max_s" in str(info.value) and "below retry_backoff_s" in str(info.value)


def test_unknown_runtime_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_HUB_RUNTIME__TICK_INTERVAL", "1")
    with pytest.raises(ConfigError, match="tick_interval"):
        load_settings()


def test_broker_takes_the_settings_and_validates_an_override() -> None:
    codec, topology = EnvelopeCodec({"hub": b"hub-test-key-01234x56789"}), Topology("trtset")
    with Broker("memory://", codec, topology, settings=BrokerRuntimeSettings(max_attempts=2),
                reconnect_attempts=1) as broker:
        assert (broker.settings.max_attempts, broker.settings.reconnect_attempts) == (2, 1)
        assert broker.consumer(["q"], lambda ds: []).max_attempts == 2
    with pytest.raises(ValueError, match="max_attempts"):
        Broker("memory://", codec, topology, max_attempts=0)
    with pytest.raises(TypeError, match="unknown option.*max_attempt\\b"):
        Broker("memory://", codec, topology, max_attempt=3)


def test_hub_runtime_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="consumer_prefetch"):
        HubRuntimeSettings(consumer_prefetch=0)


def test_hub_runtime_takes_the_services_settings_and_validates_an_override(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mashlink.hub.runtime import HubRuntime
    from mashlink.hub.service import HubService

    monkeypatch.setenv("MASHLINK_HUB_RUNTIME__RELAY_BATCH_SIZE", "50")
    service = HubService.open(load_settings(state_dir=str(tmp_path / "state")))
    try:
        runtime = HubRuntime(service, lambda: None, tick_interval_s=0.5)  # type: ignore[arg-type, return-value]
        assert (runtime.settings.relay_batch_size, runtime.settings.tick_interval_s) == (50, 0.5)
        with pytest.raises(ValueError, match="tick_interval_s"):
            HubRuntime(service, lambda: None, tick_interval_s=0)  # type: ignore[arg-type, return-value]
        with pytest.raises(TypeError, match="HubRuntime.*tick_interval\\b"):
            HubRuntime(service, lambda: None, tick_interval=1)  # type: ignore[arg-type, return-value]
    finally:
        service.close()
