"""No queue of the topology is without a consumer in the docker-compose deployment.

Reads ``docker-compose.yml`` as written, derives from each mashlink service's
command which queues it consumes, and checks that against every work queue
``broker/topology.py`` declares for the agencies of the configuration the
containers load (``MASHLINK_CONFIG``): each agency's enquiry queues (one per
RAG) and events queue, ``referrer.outcomes``, and the hub's responses and
events queues. Dead-letter queues are the operators' (``mashlink dlq``).

What each command consumes (the code it runs):

* ``hub``              ``HubRuntime``: the responses and hub events queues;
* ``connector AGENCY`` ``ConnectorRunner`` lanes (the agency's enquiry queues)
  and ``AgencyEventsConsumer`` (its events queue, unless the agency's
  ``options.events.enabled`` is false: checked below);
* ``notify-referrers`` ``NotifierRunner``: ``referrer.outcomes``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mashlink.broker.topology import Topology
from mashlink.config.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def consumed_by(command: list[str], topology: Topology) -> set[str]:
    """The queues a ``mashlink`` command consumes (empty for commands that consume nothing)."""
    if not command:
        return set()
    verb = command[0]
    if verb == "hub":
        return {topology.responses_queue, topology.events_queue}
    if verb == "connector":
        agency = command[1]
        return {*topology.enquiry_queues(agency), topology.agency_events_queue(agency)}
    if verb == "notify-referrers":
        return {topology.referrer_outcomes_queue}
    return set()


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _config_in_containers(compose: dict[str, Any]) -> Path:
    """The configuration file the containers load (the image copies the repository's config/ to /app/config)."""
    common = compose["x-mashlink-env"]["MASHLINK_CONFIG"]
    assert common.startswith("/app/config/"), common
    return ROOT / "config" / common.removeprefix("/app/config/")


def test_every_work_queue_has_a_consuming_service() -> None:
    compose = _compose()
    settings = load_settings(_config_in_containers(compose))
    topology = Topology(settings.broker_namespace)
    agencies = [a.id for a in settings.agencies]
    declared = {spec.name for spec in topology.work_queues(agencies)}

    # A connector consumes its events queue unless its options switch that off (connectors/events/options.py).
    for agency in settings.agencies:
        events = agency.options.get("events") or {}
        assert events.get("enabled", True) is True, f"{agency.id}: events.enabled is false, nothing consumes it"

    consumers: dict[str, list[str]] = {}
    for name, service in compose["services"].items():
        for queue in consumed_by(list(service.get("command") or []), topology):
            consumers.setdefault(queue, []).append(name)

    orphans = sorted(declared - set(consumers))
    assert orphans == [], f"queues no compose service consumes: {orphans}"
    # Every connector service runs an agency the configuration knows (its queues exist).
    assert set(consumers) <= declared, sorted(set(consumers) - declared)
    # The events queues in particular (the outcome loop): each agency's, the hub's and the referrer's.
    for queue in [topology.agency_events_queue(a) for a in agencies] + [topology.events_queue,
                                                                        topology.referrer_outcomes_queue]:
        assert consumers.get(queue), queue


def test_the_check_finds_a_missing_consumer() -> None:
    """Without the notifier service, referrer.outcomes would be an orphan: the derivation sees it."""
    compose = _compose()
    topology = Topology("mashlink")
    commands = [list(s.get("command") or []) for n, s in compose["services"].items() if n != "referrer-notifier"]
    consumed = set().union(*(consumed_by(c, topology) for c in commands))
    assert topology.referrer_outcomes_queue not in consumed
    assert topology.enquiry_queue("police-synth", "red") in consumed
