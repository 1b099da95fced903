"""Start throw-away RabbitMQ nodes on this machine: a cluster for failover tests, a TLS listener.

Why not docker or the system service: the main node ``rabbit@<host>`` on
5672 is shared by every other test and must not be touched, and the tests
must run where only the RabbitMQ 3.10 package is installed. So each node here
is a separate ``rabbitmq-server`` process with its own node name
(``mlc1x<run>@localhost``), AMQP port, distribution port, data and log
directories under a temporary directory, an empty enabled-plugins file (no
management plugin: less memory, fewer ports) and its own config file (the
system ``/etc/rabbitmq`` files are not read).

Cookie: the nodes and the ``rabbitmqctl`` calls share ``HOME`` = the run's
directory, holding a copy of the current user's ``~/.erlang.cookie`` when
there is one (so an operator can ``rabbitmqctl -n`` them by hand), else a
fresh random cookie.

Everything is bounded: every wait has a deadline, and :meth:`RabbitNodes.stop`
always stops every node (``rabbitmqctl -n NODE stop``), then kills what is
left of each node's own process group by id. Plain Python with no pytest
import, so ``bench/failover.py`` can reuse it from a source checkout.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Where the packaged scripts live (the /usr/sbin wrappers switch to the rabbitmq user).
RABBITMQ_BIN = Path(os.environ.get("MASHLINK_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
BOOT_DEADLINE_S = float(os.environ.get("MASHLINK_RABBITMQ_BOOT_DEADLINE_S", "240"))
CTL_TIMEOUT_S = 120.0


class ClusterError(RuntimeError):
    """A node would not start, join or stop in time; the message carries its log tail."""


def rabbitmq_missing() -> str | None:
    """Why extra nodes cannot be started here (None: they can)."""
    for script in ("rabbitmq-server", "rabbitmqctl"):
        if not (RABBITMQ_BIN / script).is_file():
            return f"{RABBITMQ_BIN / script} not found (set MASHLINK_RABBITMQ_BIN)"
    if shutil.which("erl") is None and not Path("/usr/lib/erlang/bin/erl").exists():
        return "Erlang (erl) is not installed"
    return None


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class TlsListener:
    """PEM files for a node's ``ssl_listeners`` port; peers must present a certificate."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    fail_if_no_peer_cert: bool = True


@dataclass
class Node:
    """One extra RabbitMQ node and what is needed to reach and stop it."""

    name: str
    amqp_port: int
    dist_port: int
    base: Path
    tls_port: int | None = None
    process: subprocess.Popen[bytes] | None = None
    killed: bool = False

    @property
    def pid_file(self) -> Path:
        return self.base / f"{self.short}.pid"

    @property
    def short(self) -> str:
        return self.name.split("@", 1)[0]

    @property
    def log_file(self) -> Path:
        return self.base / "log" / f"{self.name}.log"

    @property
    def stdout_file(self) -> Path:
        return self.base / "stdout.log"

    def os_pid(self) -> int | None:
        """The Erlang VM's process id (RabbitMQ writes it once booted)."""
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def url(self, user: str = "guest", password: str = "guest") -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.amqp_port}//"

    def log_tail(self, lines: int = 25) -> str:
        parts = []
        for path in (self.stdout_file, self.log_file):
            try:
                parts.append(f"--- {path} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
            except OSError:
                continue
        return "\n".join(parts)


@dataclass
class RabbitNodes:
    """``size`` extra nodes under ``root``; ``start()`` boots (and clusters) them, ``stop()`` always cleans up.

    Use as a context manager so a failure anywhere still stops every node.
    """

    root: Path
    size: int = 3
    cluster: bool = True
    tls: TlsListener | None = None
    prefix: str = "mlc"
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("size must be >= 1")
        run = uuid.uuid4().hex[:6]
        self.root.mkdir(parents=True, exist_ok=True)
        self.home = self.root / "home"
        self.home.mkdir(exist_ok=True)
        self._write_cookie()
        for i in range(1, self.size + 1):
            name = f"{self.prefix}{i}x{run}@localhost"
            base = self.root / f"{self.prefix}{i}"
            base.mkdir(exist_ok=True)
            self.nodes.append(Node(name=name, amqp_port=free_port(), dist_port=free_port(), base=base,
                                   tls_port=free_port() if self.tls else None))

    # ---- set-up --------------------------------------------------------
    def _write_cookie(self) -> None:
        cookie = self.home / ".erlang.cookie"
        if cookie.exists():
            return
        own = Path.home() / ".erlang.cookie"
        try:
            value = own.read_text().strip()
        except OSError:
            value = ""
        cookie.write_text(value or secrets.token_hex(20).upper())
        cookie.chmod(0o400)

    def _env(self, node: Node | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        env.update({
            "HOME": str(self.home),
            # An empty env file: /etc/rabbitmq/rabbitmq-env.conf names the main node.
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_USE_LONGNAME": "false",
        })
        if node is not None:
            env.update({
                "RABBITMQ_NODENAME": node.name,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(node.amqp_port),
                "RABBITMQ_DIST_PORT": str(node.dist_port),
                "RABBITMQ_MNESIA_BASE": str(node.base / "mnesia"),
                "RABBITMQ_LOG_BASE": str(node.base / "log"),
                "RABBITMQ_PID_FILE": str(node.pid_file),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.base / "enabled_plugins"),
                "RABBITMQ_CONFIG_FILE": str(node.base / "rabbitmq.conf"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(node.base / "advanced.config"),
            })
        return env

    def _write_config(self, node: Node) -> None:
        (self.root / "rabbitmq-env.conf").write_text("")
        (node.base / "enabled_plugins").write_text("")
        lines = [
            f"listeners.tcp.default = 127.0.0.1:{node.amqp_port}",
            "loopback_users.guest = true",
            "log.console = false",
            "log.file.level = info",
        ]
        if self.tls is not None and node.tls_port is not None:
            lines += [
                f"listeners.ssl.default = 127.0.0.1:{node.tls_port}",
                f"ssl_options.cacertfile = {self.tls.ca_file}",
                f"ssl_options.certfile = {self.tls.cert_file}",
                f"ssl_options.keyfile = {self.tls.key_file}",
                "ssl_options.verify = verify_peer",
                f"ssl_options.fail_if_no_peer_cert = {'true' if self.tls.fail_if_no_peer_cert else 'false'}",
            ]
        (node.base / "rabbitmq.conf").write_text("\n".join(lines) + "\n")

    def ctl(self, node: Node, *args: str, timeout_s: float = CTL_TIMEOUT_S, check: bool = True) -> str:
        """Run ``rabbitmqctl -n NODE args``; bounded by ``timeout_s``."""
        cmd = [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", node.name, *args]
        try:
            done = subprocess.run(cmd, env=self._env(), capture_output=True, text=True, timeout=timeout_s,
                                  cwd=self.root)
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"rabbitmqctl {' '.join(args)} on {node.name} took over {timeout_s:g}s") from exc
        if check and done.returncode != 0:
            raise ClusterError(f"rabbitmqctl {' '.join(args)} on {node.name} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}\n{node.log_tail()}")
        return done.stdout

    def _launch(self, node: Node) -> None:
        self._write_config(node)
        out = node.stdout_file.open("ab")
        try:
            node.process = subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")], env=self._env(node), cwd=node.base,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so cleanup can kill exactly it
            )
        finally:
            out.close()

    def _await(self, node: Node, deadline: float) -> None:
        while True:
            remaining = deadline - time.monotonic()
            if node.process is not None and node.process.poll() is not None:
                raise ClusterError(f"node {node.name} exited with {node.process.returncode} while booting\n"
                                   f"{node.log_tail()}")
            if remaining <= 0:
                raise ClusterError(f"node {node.name} did not boot within {BOOT_DEADLINE_S:g}s\n{node.log_tail()}")
            try:
                self.ctl(node, "await_startup", "--timeout", str(max(int(min(remaining, 60)), 5)),
                         timeout_s=min(remaining, 60) + 30)
                return
            except ClusterError:
                time.sleep(1.0)

    def start(self) -> RabbitNodes:
        """Boot every node (in parallel), then join nodes 2..n to node 1 when ``cluster``."""
        deadline = time.monotonic() + BOOT_DEADLINE_S
        for node in self.nodes:
            self._launch(node)
        for node in self.nodes:
            self._await(node, deadline)
        if self.cluster and len(self.nodes) > 1:
            first = self.nodes[0]
            for node in self.nodes[1:]:
                self.ctl(node, "stop_app")
                self.ctl(node, "join_cluster", first.name)
                self.ctl(node, "start_app")
                self._await(node, time.monotonic() + BOOT_DEADLINE_S)
            self.await_running(len(self.nodes), deadline=time.monotonic() + BOOT_DEADLINE_S)
        return self

    def running_nodes(self, via: Node | None = None) -> list[str]:
        """Names of the cluster's running nodes, as ``via`` (default: first live node) sees them."""
        node = via or next(n for n in self.nodes if not n.killed)
        out = self.ctl(node, "eval", "rabbit_nodes:all_running().", timeout_s=60)
        return sorted(part.strip(" '[]\n") for part in out.strip().strip("[]").split(",") if part.strip(" '[]\n"))

    def await_running(self, count: int, *, deadline: float) -> None:
        while True:
            try:
                if len(self.running_nodes()) >= count:
                    return
            except ClusterError:
                pass
            if time.monotonic() >= deadline:
                raise ClusterError(f"cluster did not reach {count} running nodes in time")
            time.sleep(1.0)

    # ---- faults --------------------------------------------------------
    def kill(self, node: Node) -> None:
        """kill -9 the node's Erlang VM (no clean shutdown: connections drop, Raft elects anew)."""
        pid = node.os_pid()
        if pid is None:
            raise ClusterError(f"no pid file for {node.name}: cannot kill it")
        os.kill(pid, signal.SIGKILL)
        node.killed = True

    def node_for_port(self, port: int) -> Node:
        for node in self.nodes:
            if port in (node.amqp_port, node.tls_port):
                return node
        raise KeyError(f"no node of this run listens on {port}")

    # ---- URLs ----------------------------------------------------------
    def url(self, user: str = "guest", password: str = "guest") -> str:
        """Multi-host failover URL (kombu syntax): every node, first node first."""
        return ";".join(n.url(user, password) for n in self.nodes)

    # ---- teardown ------------------------------------------------------
    def stop(self) -> None:
        """Stop every node; whatever is left of a node's process group is killed. Never raises."""
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                continue
            if not node.killed:
                try:
                    self.ctl(node, "stop", timeout_s=60, check=False)
                except ClusterError:
                    pass
        for node in self.nodes:
            self._reap(node)

    def _reap(self, node: Node) -> None:
        proc = node.process
        if proc is None:
            return
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        # The Erlang VM and its helpers share the launcher's process group (start_new_session).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        pid = node.os_pid()
        if pid is not None and _alive(pid) and node.name in _cmdline(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def leftovers(self) -> list[int]:
        """Process ids whose command line still names one of this run's nodes (should be empty after stop)."""
        names = [n.name for n in self.nodes]
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            cmd = _cmdline(int(entry.name))
            if any(name in cmd for name in names) and not _zombie(int(entry.name)):
                found.append(int(entry.name))
        return found

    def __enter__(self) -> RabbitNodes:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and not _zombie(pid)


# ---- the failover scenario (test and bench) ---------------------------------


@dataclass
class FailoverResult:
    """What one publish/consume run under a node kill measured (times are seconds, monotonic)."""

    total: int
    confirmed: set[str]
    effects: dict[str, int]  # message id -> times its effect was applied (idempotent: 1)
    deliveries: dict[str, int]  # message id -> times delivered (duplicates after failover are fine)
    unexpected: list[str]
    publish_errors: list[str]
    parked: int
    started: float
    finished_publishing: float
    finished: float
    killed_at: float | None = None
    killed_node: str | None = None
    killed_port: int | None = None
    publisher_ports: set[int] = field(default_factory=set)
    consumer_ports: set[int] = field(default_factory=set)
    confirmed_before_kill: int = 0
    consumer_port_at_kill: int | None = None
    publisher_resumed_at: float | None = None
    consumer_resumed_at: float | None = None

    @property
    def lost(self) -> set[str]:
        return self.confirmed - set(self.effects)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.deliveries.values() if n > 1)

    @property
    def publisher_reconnect_s(self) -> float | None:
        if self.killed_at is None or self.publisher_resumed_at is None:
            return None
        return self.publisher_resumed_at - self.killed_at

    @property
    def consumer_reconnect_s(self) -> float | None:
        if self.killed_at is None or self.consumer_resumed_at is None:
            return None
        return self.consumer_resumed_at - self.killed_at

    def rate_before(self) -> float:
        end = self.killed_at if self.killed_at is not None else self.finished_publishing
        return self.confirmed_before_kill / max(end - self.started, 1e-9) if self.killed_at is not None \
            else len(self.confirmed) / max(end - self.started, 1e-9)

    def rate_after(self) -> float | None:
        if self.publisher_resumed_at is None:
            return None
        after = len(self.confirmed) - self.confirmed_before_kill
        return after / max(self.finished_publishing - self.killed_at, 1e-9) if self.killed_at else None


def run_failover_scenario(
    url: str,
    *,
    total: int = 2000,
    batch: int = 50,
    kill_after: int | None = None,
    kill: Callable[[int], str] | None = None,
    deadline_s: float = 600.0,
    agency: str = "police-synth",
) -> FailoverResult:
    """Hub-style confirmed publishes and a consumer under load; optionally kill the node in use mid-load.

    The publisher publishes ``total`` signed enquiries in batches through
    ``Broker.publish`` (every message confirmed, unconfirmed ones re-published
    after a lost connection); when a publish still fails, the failed messages
    go back in the queue to publish, as the hub's outbox does. A consumer on
    its own connection applies each message's effect once per message id.
    Once ``kill_after`` messages are confirmed, ``kill(port)`` is called from
    another thread with the port the publisher is connected to (while the
    next batch is in flight) and returns the killed node's name. Bounded by
    ``deadline_s``; never raises for lost messages (the caller asserts).
    """
    from mashlink.broker import Broker, EnvelopeCodec, HandlerResult, PublishError, Topology
    from mashlink.schemas.codes import Rag
    from tests.broker.broker_helpers import KEYS, enquiry_envelope

    rags = (Rag.RED, Rag.AMBER, Rag.GREEN)
    topology = Topology(f"fo{uuid.uuid4().hex[:10]}", delivery_limit=50)
    codec = EnvelopeCodec({"hub": KEYS["hub"], agency: KEYS.get(agency, KEYS["hub"])})
    options: dict[str, Any] = {"confirm_timeout_s": 60.0, "reconnect_attempts": 20, "publish_window": 500,
                               "retry_backoff_s": 0.05, "retry_backoff_max_s": 1.0, "max_attempts": 50}
    publisher = Broker(url, codec, topology, **options)
    publisher.declare([agency])
    outgoing = [topology.enquiry(enquiry_envelope(rags[i % 3], n=i, recipient=agency)) for i in range(total)]
    expected = {m.envelope.message_id for m in outgoing}

    lock = threading.Lock()
    effects: dict[str, int] = {}
    deliveries: dict[str, int] = {}
    unexpected: list[str] = []
    state: dict[str, Any] = {"killed_at": None, "consumer_resumed_at": None}
    consumer_ports: set[int] = set()
    stop = threading.Event()
    consumer = publisher.consumer(topology.enquiry_queues(agency), lambda ds: handle(ds), prefetch=200,
                                  max_batch=100, name="failover-consumer")

    def handle(batch_in: list[Any]) -> list[Any]:
        port = consumer.link.current_port
        now = time.monotonic()
        with lock:
            if port is not None:
                consumer_ports.add(port)
            if state["killed_at"] is not None and state["consumer_resumed_at"] is None \
                    and port != state.get("killed_port"):
                state["consumer_resumed_at"] = now
            for d in batch_in:
                mid = d.message_id
                deliveries[mid] = deliveries.get(mid, 0) + 1
                if mid not in expected:
                    unexpected.append(mid)
                elif mid not in effects:
                    effects[mid] = 1  # the effect, applied once per message id
        return [HandlerResult.ack() for _ in batch_in]

    consumer_thread = threading.Thread(target=consumer.run, args=(stop,), name="failover-consumer", daemon=True)
    consumer_thread.start()

    confirmed: set[str] = set()
    publish_errors: list[str] = []
    publisher_ports: set[int] = set()
    started = time.monotonic()
    deadline = started + deadline_s
    kill_done = threading.Event()
    killer: threading.Thread | None = None
    confirmed_before_kill = 0
    publisher_resumed_at: float | None = None

    def do_kill(port: int) -> None:
        state["consumer_port_at_kill"] = consumer.link.current_port
        try:
            state["killed_node"] = kill(port) if kill is not None else None
            state["killed_port"] = port
            state["killed_at"] = time.monotonic()
        finally:
            kill_done.set()

    todo = list(outgoing)
    try:
        while todo and time.monotonic() < deadline:
            chunk, todo = todo[:batch], todo[batch:]
            if kill is not None and killer is None and kill_after is not None and len(confirmed) >= kill_after:
                port = publisher.link.current_port
                assert port is not None, "publisher has no connection to kill"
                confirmed_before_kill = len(confirmed)
                killer = threading.Thread(target=do_kill, args=(port,), name="failover-killer", daemon=True)
                killer.start()  # the kill lands while this chunk is in flight
            try:
                publisher.publish(chunk)
                done = {m.envelope.message_id for m in chunk}
            except PublishError as exc:
                publish_errors.append(str(exc)[:300])
                done = set(exc.confirmed)
                todo.extend(m for m in chunk if m.envelope.message_id not in done)  # the outbox retries them
            port = publisher.link.current_port
            if port is not None:
                publisher_ports.add(port)
            confirmed |= done
            if killer is not None and kill_done.is_set() and publisher_resumed_at is None and done \
                    and port != state.get("killed_port"):
                publisher_resumed_at = time.monotonic()
        finished_publishing = time.monotonic()
        if killer is not None:
            kill_done.wait(timeout=max(deadline - time.monotonic(), 1.0))
        while time.monotonic() < deadline:
            with lock:
                if confirmed <= set(effects):
                    break
            time.sleep(0.2)
        # A little longer, so late duplicates (redeliveries) are counted too.
        time.sleep(1.0)
    finally:
        stop.set()
        consumer_thread.join(timeout=60)
        parked = 0
        try:
            parked = sum(max(s.messages, 0) for s in publisher.queue_stats(
                [topology.dlq_for(q) for q in topology.enquiry_queues(agency)]))
            publisher.delete_topology([agency])
        except Exception as exc:  # noqa: BLE001 - cleanup of a broken cluster must not hide the result
            publish_errors.append(f"cleanup: {type(exc).__name__}: {exc}"[:300])
        publisher.close()
    with lock:
        return FailoverResult(
            total=total, confirmed=confirmed, effects=dict(effects), deliveries=dict(deliveries),
            unexpected=list(unexpected), publish_errors=publish_errors, parked=parked, started=started,
            finished_publishing=finished_publishing, finished=time.monotonic(), killed_at=state["killed_at"],
            killed_node=state.get("killed_node"), killed_port=state.get("killed_port"),
            publisher_ports=publisher_ports, consumer_ports=set(consumer_ports),
            confirmed_before_kill=confirmed_before_kill, consumer_port_at_kill=state.get("consumer_port_at_kill"),
            publisher_resumed_at=publisher_resumed_at,
            consumer_resumed_at=state["consumer_resumed_at"],
        )
