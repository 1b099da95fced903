"""A three-node RabbitMQ cluster loses the node the clients use, mid-load: nothing confirmed is lost.

The test starts three extra RabbitMQ nodes on this machine (the shared node
on 5672 is not touched), clusters them, declares the topology (quorum
queues, replicated on every node) and runs hub-style confirmed publishes and
a consumer through a multi-host broker URL. Once part of the load is
confirmed it kill -9s the node both clients are connected to. Both must fail
over to another node by themselves; every confirmed message must be consumed,
its effect applied once (the consumer is idempotent on message id; the broker
may redeliver after a failover), nothing parked. Reconnect times are printed,
never asserted (a loaded 2-core machine decides them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.broker.cluster_support import RabbitNodes, rabbitmq_missing, run_failover_scenario
from tests.conftest import services_required

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNodes]:
    missing = rabbitmq_missing()
    if missing:
        message = f"cannot start extra RabbitMQ nodes: {missing}"
        if services_required():
            pytest.fail(f"{message} and MASHLINK_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    nodes = RabbitNodes(Path(tmp_path_factory.mktemp("rabbit-cluster")), size=3, cluster=True)
    with nodes:
        yield nodes
    leftovers = nodes.leftovers()
    assert leftovers == [], f"RabbitMQ processes left running after stop: {leftovers}"


def test_the_three_nodes_form_one_cluster(cluster: RabbitNodes) -> None:
    assert cluster.running_nodes() == sorted(n.name for n in cluster.nodes)
    for node in cluster.nodes[1:]:
        assert cluster.running_nodes(via=node) == sorted(n.name for n in cluster.nodes)


def test_killing_the_connected_node_mid_load_loses_no_confirmed_message(cluster: RabbitNodes) -> None:
    def kill(port: int) -> str:
        node = cluster.node_for_port(port)
        cluster.kill(node)
        return node.name

    result = run_failover_scenario(cluster.url(), total=2000, batch=50, kill_after=600, kill=kill,
                                   deadline_s=600.0)

    print(f"\nfailover: killed {result.killed_node} after {result.confirmed_before_kill} confirmed; "
          f"publisher reconnect {result.publisher_reconnect_s} s, consumer reconnect "
          f"{result.consumer_reconnect_s} s; {result.duplicates} duplicate deliveries; "
          f"{len(result.publish_errors)} publish errors re-queued; "
          f"{result.rate_before():.0f} msg/s before, {result.rate_after() or 0:.0f} msg/s after")
    # The node killed is the one both clients were using (the first host of the URL).
    assert result.killed_node == cluster.nodes[0].name
    assert result.killed_port in result.publisher_ports
    assert result.consumer_port_at_kill == result.killed_port
    # Both clients moved to a surviving node by themselves.
    survivors = {n.amqp_port for n in cluster.nodes[1:]}
    assert result.publisher_ports & survivors, "the publisher never reconnected to a surviving node"
    assert result.consumer_ports & survivors, "the consumer never reconnected to a surviving node"
    assert result.publisher_resumed_at is not None and result.consumer_resumed_at is not None
    # Everything was published (the outbox retries what failed) and nothing confirmed was lost.
    assert len(result.confirmed) == result.total
    assert result.lost == set()
    assert result.unexpected == []
    # Exactly once in effect, whatever the broker redelivered after the failover.
    assert set(result.effects.values()) == {1}
    assert set(result.effects) == result.confirmed
    assert result.parked == 0, "a message was dead-lettered during the failover"
    # The survivors still form a cluster of two.
    assert cluster.running_nodes(via=cluster.nodes[1]) == sorted(n.name for n in cluster.nodes[1:])


def test_a_failover_url_is_checked_host_by_host_and_every_password_masked() -> None:
    from mashlink.config.errors import ConfigError
    from mashlink.config.settings import load_settings, mask_url

    url = "amqp://hub:secret-1@10.0.0.1:5672//;amqp://hub:secret-2@10.0.0.2:5672//"
    assert load_settings(broker_url=url).broker_url == url
    assert mask_url(url) == "amqp://hub:****@10.0.0.1:5672//;amqp://hub:****@10.0.0.2:5672//"
    with pytest.raises(ConfigError, match=r"host 2 of 2"):
        load_settings(broker_url="amqp://hub:pw@10.0.0.1:5672//;http://10.0.0.2//")
    with pytest.raises(ConfigError, match=r"memory:// cannot be one of several hosts"):
        load_settings(broker_url="amqp://hub:pw@10.0.0.1:5672//;memory://")


def test_a_link_skips_a_dead_host_and_keeps_the_one_that_answered(amqp_url: str) -> None:
    from mashlink.broker.link import Link
    from tests.broker.cluster_support import free_port

    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    link = Link(f"{dead};{amqp_url}", connect_timeout_s=10.0)
    try:
        assert link.current_port is None
        link.connection  # noqa: B018 - connecting walks past the dead host
        assert link.host_index == 1
        assert link.current_port == (urlsplit(amqp_url).port or 5672)
        link.reset()
        link.connection  # noqa: B018 - a reconnect starts at the host that answered last
        assert link.host_index == 1
    finally:
        link.close()
    only_dead = Link(f"{dead};amqp://guest:guest@127.0.0.1:{free_port()}//", connect_timeout_s=5.0)
    with pytest.raises(ConnectionRefusedError):
        only_dead.connection  # noqa: B018 - every host refused: the last error is raised
