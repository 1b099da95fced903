"""Prometheus and Grafana as deployed: the rules, the scrape and the dashboard name only series the hub exposes.

Every metric name in an alert expression or a dashboard query must be one
``hub/metrics.py`` declares (``exposed_series``), so a renamed metric cannot
leave an alert that never fires. When Debian's ``prometheus`` package is
installed (it brings ``promtool``), the configuration and rules are checked
by Prometheus's own tool, and each alert is shown to fire on the series
that should raise it, and to stay quiet on its neighbour (never downloaded).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mashlink.hub.metrics import exposed_series

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
OPERATIONS = ROOT / "docs" / "operations.md"

#: PromQL words that are not metric names (functions, keywords, the labels the hub uses).
PROMQL_WORDS = {
    "sum", "by", "on", "unless", "and", "or", "time", "increase", "rate", "histogram_quantile", "max", "min",
    "avg", "count", "without", "ignoring", "bool", "absent", "agency", "rag", "queue", "reason", "job", "le", "section",
}
#: Series Prometheus itself makes.
PROMETHEUS_SERIES = {"up"}

EXPECTED_ALERTS = {
    "MashlinkRedEnquiryOverdue", "MashlinkConnectorSilent", "MashlinkConnectorNotConsuming",
    "MashlinkDeadLetterParked", "MashlinkRelayLagHigh", "MashlinkQueueBacklog", "MashlinkAuditChainFailing",
    "MashlinkAuditCheckStale", "MashlinkHubDown", "MashlinkMetricsSourceFailing",
}


def _rules() -> list[dict[str, Any]]:
    data = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that are not functions, keywords or label names."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    without_durations = re.sub(r"\[[^\]]*\]", "", without_strings)
    return {word for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", without_durations)} - PROMQL_WORDS


def _anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of the headings of ``markdown``."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def test_every_alert_names_exposed_series_and_a_documented_runbook() -> None:
    rules = _rules()
    assert {r["alert"] for r in rules} == EXPECTED_ALERTS
    exposed = exposed_series() | PROMETHEUS_SERIES
    anchors = _anchors(OPERATIONS.read_text(encoding="utf-8"))
    for rule in rules:
        names = metric_names(rule["expr"])
        assert names and names <= exposed, (rule["alert"], names - exposed)
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        links = re.findall(r"docs/operations\.md#([a-z0-9-]+)", rule["annotations"]["description"])
        assert links and set(links) <= anchors, (rule["alert"], links)


def test_the_metric_name_extraction_sees_a_misspelt_metric() -> None:
    assert metric_names('sum by (agency) (mashlink_enquiries_overdue{rag="red"}) > 0') == {
        "mashlink_enquiries_overdue"}
    assert metric_names("time() - mashlink_enquiry_oldest_open_timestamp_secs > 2 * 3600") \
        - exposed_series() == {"mashlink_enquiry_oldest_open_timestamp_secs"}


def test_prometheus_scrapes_the_hub_with_the_token_file_and_loads_the_rules() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    [job] = config["scrape_configs"]
    assert job["job_name"] == "mashlink-hub" and job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["hub:8080"]}]
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/tmp/metrics-token"}
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert not re.search(r"^\s*credentials:", (PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"),
                         re.MULTILINE)  # never a token inline


def test_grafana_provisions_the_datasource_and_a_dashboard_of_exposed_series() -> None:
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    [source] = datasource["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "mashlink.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((GRAFANA / "dashboards" / "mashlink-overview.json").read_text(encoding="utf-8"))
    assert dashboard["uid"] == "mashlink-overview"
    exposed = exposed_series()
    seen: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names and names <= exposed, (panel["title"], names - exposed)
            seen |= names
    # The dashboard shows every family the issue asks for.
    for family in ("mashlink_enquiries_overdue", "mashlink_enquiries_sent_total", "mashlink_dead_letters_parked",
                   "mashlink_enquiry_round_trip_seconds_bucket", "mashlink_outbox_relay_lag_seconds",
                   "mashlink_connector_last_seen_timestamp_seconds", "mashlink_queue_consumers",
                   "mashlink_audit_chain_ok"):
        assert family in seen, family


# ---------------------------------------------------------------------------------------- promtool
def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus'); the YAML checks above still ran")
    return path


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_promtool(), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_promtool_accepts_the_config_and_rules(tmp_path: Path) -> None:
    config = (PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8")
    (tmp_path / "prometheus.yml").write_text(config.replace("/etc/prometheus/alerts.yml", "alerts.yml")
                                             .replace("/tmp/metrics-token", "metrics-token"), encoding="utf-8")
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "metrics-token").write_text("synthetic-token", encoding="utf-8")
    checked = _run("check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = _run("check", "rules", "alerts.yml", cwd=tmp_path)
    assert rules.returncode == 0 and f"{len(EXPECTED_ALERTS)} rules found" in rules.stdout, rules.stdout + rules.stderr


Q = "mashlink.enquiry.police-synth.red"
#: (alert, series -> values, eval time, labels expected on the firing alert; [] = must not fire)
SCENARIOS: list[tuple[str, dict[str, str], str, list[dict[str, str]]]] = [
    ("MashlinkRedEnquiryOverdue", {'mashlink_enquiries_overdue{agency="police-synth",rag="red"}': "1x20",
                                   'mashlink_enquiries_overdue{agency="health-synth",rag="amber"}': "3x20"},
     "10m", [{"agency": "police-synth"}]),
    ("MashlinkRedEnquiryOverdue", {'mashlink_enquiries_overdue{agency="police-synth",rag="red"}': "0x20"},
     "10m", []),
    # Enquiries open since t=0; police never heard from, health answering every minute.
    ("MashlinkConnectorSilent", {'mashlink_enquiry_oldest_open_timestamp_seconds{agency="police-synth"}': "0x200",
                                 'mashlink_enquiry_oldest_open_timestamp_seconds{agency="health-synth"}': "0x200",
                                 'mashlink_connector_last_seen_timestamp_seconds{agency="health-synth"}':
                                     "0+60x200"},
     "3h", [{"agency": "police-synth"}]),
    ("MashlinkConnectorNotConsuming", {f'mashlink_queue_consumers{{queue="{Q}"}}': "0x20",
                                       'mashlink_queue_consumers{queue="mashlink.enquiry.health-synth.red"}': "1x20",
                                       'mashlink_queue_consumers{queue="mashlink.enquiry.police-synth.green"}':
                                           "0x20"},
     "10m", [{"queue": Q}]),
    ("MashlinkDeadLetterParked", {'mashlink_dead_letters_parked{queue="mashlink.hub.events",'
                                  'reason="bad_signature"}': "1x20"},
     "10m", [{"queue": "mashlink.hub.events", "reason": "bad_signature"}]),
    ("MashlinkRelayLagHigh", {"mashlink_outbox_relay_lag_seconds": "300x20"}, "10m", [{}]),
    ("MashlinkRelayLagHigh", {"mashlink_outbox_relay_lag_seconds": "5x20"}, "10m", []),
    ("MashlinkQueueBacklog", {'mashlink_queue_messages{queue="mashlink.hub.responses"}': "1000x40",
                              'mashlink_queue_messages{queue="mashlink.hub.responses.dlq"}': "1000x40"},
     "30m", [{"queue": "mashlink.hub.responses"}]),
    ("MashlinkAuditChainFailing", {"mashlink_audit_chain_ok": "1 1 0 0 0"}, "4m", [{}]),
    ("MashlinkAuditChainFailing", {"mashlink_audit_chain_ok": "1x10"}, "5m", []),
    ("MashlinkAuditCheckStale", {"mashlink_audit_chain_checked_timestamp_seconds": "0x300"}, "4h", [{}]),
    ("MashlinkHubDown", {'up{job="mashlink-hub"}': "0x20"}, "10m", [{"job": "mashlink-hub"}]),
    ("MashlinkMetricsSourceFailing", {'mashlink_metrics_section_ok{section="queues"}': "0x20",
                                      'mashlink_metrics_section_ok{section="relay_lag"}': "1x20"},
     "10m", [{"section": "queues"}]),
]


def test_each_alert_fires_on_its_condition_and_not_on_its_neighbour(tmp_path: Path) -> None:
    """``promtool test rules`` over the rules with annotations removed (the templates are checked above)."""
    _promtool()
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    severities = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
            severities[rule["alert"]] = rule["labels"]["severity"]
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    tests = []
    for alert, series, at, expected in SCENARIOS:
        tests.append({
            "interval": "1m",
            "input_series": [{"series": name, "values": values} for name, values in series.items()],
            "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": [
                {"exp_labels": {**labels, "severity": severities[alert]}} for labels in expected]}],
        })
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({"rule_files": ["alerts.yml"], "evaluation_interval": "1m",
                                                        "tests": tests}), encoding="utf-8")
    result = _run("test", "rules", "tests.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {alert for alert, *_ in SCENARIOS} == EXPECTED_ALERTS
