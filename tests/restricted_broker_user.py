"""A real RabbitMQ user holding exactly one set of ``broker/permissions.py`` rules, for least-privilege tests.

Why one helper: every least-privilege test (agency connector, hub dead-letter
replay, referrer notifier, retries, events) needs the same steps: create a
user with ``rabbitmqctl``, apply the rules the product prints and the deploy
script sends, log in as that user, and always delete it afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from mashlink.broker.permissions import BrokerPermissions


def rabbitmqctl(*args: str) -> None:
    tool = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([tool, *args], check=True, capture_output=True, text=True, timeout=60)


def user_url(amqp_url: str, user: str, password: str) -> str:
    """``amqp_url`` logged in as ``user`` (same host, port and virtual host)."""
    scheme, rest = amqp_url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest.split('@', 1)[1]}"


@contextmanager
def restricted_user(amqp_url: str, permissions: BrokerPermissions) -> Iterator[str]:
    """Create ``permissions.user`` with a synthetic password, apply the rules, yield its URL, delete it."""
    password = f"synthetic-{uuid.uuid4().hex}"
    rabbitmqctl("add_user", permissions.user, password)
    try:
        for command in permissions.rabbitmqctl():
            rabbitmqctl(*command)
        yield user_url(amqp_url, permissions.user, password)
    finally:
        rabbitmqctl("delete_user", permissions.user)
