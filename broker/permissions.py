"""Least-privilege RabbitMQ permissions for each agency's broker user, derived from the topology.

An agency's connector runs on the agency's side with its own broker user. It
must be able to consume its own enquiry queues, publish responses, alerts and
referrals to the hub, and park a poison message in its DLQ, and nothing else:
no declaring or binding (binding its queue to another agency's routing key
would read that agency's enquiries), no reading anyone else's queue. The hub
declares every queue and binding (it has the namespace), so an agency's
``configure`` permission is empty and its connector only checks, passively,
that its queues exist (``Broker.ensure_agency_queues``).

On the topic exchange ``{ns}.events`` RabbitMQ's topic permissions also pin
the routing keys an agency may publish: alerts, its own referrals and its own
delivery receipts (``receipt.<agency>``), never an ``outcome.*`` or
``escalation.*`` that would look like the hub's.

The referrer notifier (``mashlink notify-referrers``) is MASH-side but needs
far less than the hub: it reads ``referrer.outcomes``, publishes only its
delivery receipts (``receipt.referrer`` on the events exchange) and parks a
failed outcome through the dead-letter exchange; it declares nothing and
only checks, passively, that its queue and DLQ exist (the hub declared them).

These are rendered as ``rabbitmqctl`` commands (``mashlink broker
permissions``) and as the management-API bodies ``deploy/rabbitmq-init.sh``
sends; a test checks that script against this module.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from .topology import RAG_ORDER, Topology


class TopicPermission(BaseModel):
    exchange: str
    write: str
    read: str


class BrokerPermissions(BaseModel):
    """One user's permissions on one virtual host (RabbitMQ regular expressions)."""

    user: str
    vhost: str = "/"
    configure: str
    write: str
    read: str
    topic: list[TopicPermission] = Field(default_factory=list)

    def rabbitmqctl(self) -> list[list[str]]:
        """``rabbitmqctl`` argument lists that apply these permissions (the user must exist)."""
        commands = [["set_permissions", "-p", self.vhost, self.user, self.configure, self.write, self.read]]
        commands += [["set_topic_permissions", "-p", self.vhost, self.user, t.exchange, t.write, t.read]
                     for t in self.topic]
        return commands


def _ns(topology: Topology) -> str:
    return re.escape(topology.namespace)


def agency_permissions(topology: Topology, agency_id: str, *, vhost: str = "/",
                       user: str | None = None) -> BrokerPermissions:
    """What agency ``agency_id``'s connector needs, and no more (its broker user is named after it by default)."""
    agency = topology._check_agency(agency_id)  # letters, digits, '_' and '-': literal in a regex
    ns = _ns(topology)
    rags = "|".join(r.value for r in RAG_ORDER)
    return BrokerPermissions(
        user=user or agency,
        vhost=vhost,
        configure="^$",
        write=f"^{ns}\\.(hub|events|dlx|retry\\.agency\\.{agency})$",
        read=f"^{ns}\\.(enquiry\\.{agency}\\.({rags})|events\\.{agency})$",
        topic=[TopicPermission(exchange=topology.events_exchange,
                               write=f"^(alert\\.[a-z_]+|referral\\.{agency}|receipt\\.{agency})$", read="^$")],
    )


def hub_permissions(topology: Topology, *, user: str = "hub", vhost: str = "/") -> BrokerPermissions:
    """The hub declares, binds and operates every queue of its namespace."""
    ns = _ns(topology)
    return BrokerPermissions(user=user, vhost=vhost, configure=f"^{ns}\\..*", write=f"^{ns}\\..*",
                             read=f"^{ns}\\..*")


#: The referrer notifier's broker user (compose ``referrer-notifier``, ``deploy/rabbitmq-init.sh``).
NOTIFIER_USER = "referrer-notifier"


def notifier_permissions(topology: Topology, *, user: str = NOTIFIER_USER, vhost: str = "/") -> BrokerPermissions:
    """What ``mashlink notify-referrers`` needs: read ``referrer.outcomes``, write its receipts and park.

    Why not the hub's user: the notifier runs next to an SMTP relay and a
    web hook client; with the hub's rights a compromise could read every
    agency's enquiries and publish outcomes as the hub. Here ``configure`` is
    empty (the hub declares), ``read`` is its one queue, ``write`` is the
    events exchange (topic permission: ``receipt.referrer`` only) and the
    dead-letter exchange (parking a failed outcome in its DLQ) and its own retry exchange.
    """
    ns = _ns(topology)
    return BrokerPermissions(
        user=user,
        vhost=vhost,
        configure="^$",
        write=f"^{ns}\\.(events|dlx|retry\\.referrer)$",
        read=f"^{ns}\\.referrer\\.outcomes$",
        topic=[TopicPermission(exchange=topology.events_exchange, write="^receipt\\.referrer$", read="^$")],
    )
