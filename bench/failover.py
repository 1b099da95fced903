"""Failover: confirmed publishes and a consumer while the RabbitMQ node in use is kill -9ed.

``mashlink bench failover`` starts throw-away RabbitMQ nodes on this machine
(the shared node on 5672 is not touched; see ``tests/broker/cluster_support.py``)
and runs the scenario of ``tests/broker/test_cluster_failover.py`` twice:

* **baseline**: one standalone node, same quorum-queue topology, no kill;
* **cluster**: three clustered nodes through a multi-host broker URL; once
  part of the load is confirmed, the node both clients use is killed.

It reports confirmed messages per second on one node, on three nodes before
the kill and on the two survivors after it, the publisher's and consumer's
reconnect times (kill to first confirmed batch / first delivery on another
node), duplicate deliveries and lost messages (must be 0). Needs a source
checkout (the node runner lives with the tests) and RabbitMQ 3.10 installed;
sized for two cores.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from types import ModuleType

from .report import BenchReport, BenchRow

NAME = "failover"
REPO_ROOT = Path(__file__).resolve().parents[1]


def _cluster_support() -> ModuleType:
    """The node runner and scenario shared with the test (a source checkout is needed)."""
    if not (REPO_ROOT / "tests" / "broker" / "cluster_support.py").is_file():
        raise RuntimeError(f"mashlink bench failover needs a source checkout: {REPO_ROOT}/tests/broker/"
                           "cluster_support.py not found")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tests.broker import cluster_support  # noqa: PLC0415 - only from a checkout

    return cluster_support


def run(quick: bool = False) -> BenchReport:
    cs = _cluster_support()
    missing = cs.rabbitmq_missing()
    if missing:
        raise RuntimeError(f"cannot start RabbitMQ nodes: {missing}")
    total, kill_after = (1000, 300) if quick else (4000, 1500)
    with tempfile.TemporaryDirectory(prefix="mashlink-failover-") as tmp:
        with cs.RabbitNodes(Path(tmp) / "single", size=1, cluster=False, prefix="mlbs") as single:
            baseline = cs.run_failover_scenario(single.url(), total=total, batch=50)
        with cs.RabbitNodes(Path(tmp) / "cluster", size=3, cluster=True, prefix="mlbc") as cluster:

            def kill(port: int) -> str:
                node = cluster.node_for_port(port)
                cluster.kill(node)
                return str(node.name)

            result = cs.run_failover_scenario(cluster.url(), total=total, batch=50, kill_after=kill_after,
                                              kill=kill)
        leftovers = single.leftovers() + cluster.leftovers()

    single_rate = baseline.rate_before()
    before, after = result.rate_before(), result.rate_after() or 0.0
    pub_s, con_s = result.publisher_reconnect_s, result.consumer_reconnect_s
    rows = [
        BenchRow(label="1 node, no kill (baseline)", value=single_rate, unit="msg/s",
                 note=f"{len(baseline.confirmed)}/{total} confirmed and consumed"),
        BenchRow(label="3 nodes, before the kill", value=before, unit="msg/s",
                 note=f"{before / single_rate:.2f}x baseline" if single_rate else ""),
        BenchRow(label="2 survivors, after the kill", value=after, unit="msg/s",
                 note=f"{after / single_rate:.2f}x baseline; includes the reconnect" if single_rate else ""),
        BenchRow(label="publisher reconnect", value=pub_s if pub_s is not None else -1, unit="s",
                 note="kill -> first confirmed batch on another node"),
        BenchRow(label="consumer reconnect", value=con_s if con_s is not None else -1, unit="s",
                 note="kill -> first delivery on another node"),
        BenchRow(label="lost (confirmed, never consumed)", value=len(result.lost), unit="messages",
                 note="must be 0"),
        BenchRow(label="duplicate deliveries", value=result.duplicates, unit="messages",
                 note="redelivered after the failover; applied once (idempotent on message id)"),
        BenchRow(label="publishes failed and retried", value=len(result.publish_errors), unit="batches",
                 note="nacked during the leader election, re-sent as the outbox does"),
    ]
    return BenchReport(
        name=NAME,
        description=f"{total} confirmed enquiries, node in use killed after {kill_after} (quorum queues)",
        rows=rows,
        metrics={
            "single_node_msgs_per_s": round(single_rate, 1),
            "cluster_before_kill_msgs_per_s": round(before, 1),
            "cluster_after_kill_msgs_per_s": round(after, 1),
            "publisher_reconnect_s": round(pub_s, 3) if pub_s is not None else -1,
            "consumer_reconnect_s": round(con_s, 3) if con_s is not None else -1,
            "lost": len(result.lost),
            "duplicates": result.duplicates,
            "all_confirmed": len(result.confirmed) == total,
            "leftover_processes": len(leftovers),
        },
        targets={"lost": "0", "all_confirmed": "True", "leftover_processes": "0"},
    )
