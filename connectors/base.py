"""The interface every agency connector implements, and its deterministic ids.

A connector is the agency's side of the enquiry loop: it receives one
canonical :class:`Enquiry`, delivers it into the agency's own tool and/or
searches the agency system, and returns the agency's answer as one or more
:class:`EnquiryResponse` (a partial first answer with ``more_to_follow``,
then follow-ups with increasing ``sequence``). It never touches the broker:
the :mod:`~mashlink.connectors.runtime` owns consuming, publishing,
acknowledging, retries and shutdown, so a new native format (FHIR, CTF,
CIN census) changes the connector and nothing else.

Ids are deterministic so that redelivery after a crash is harmless: the same
enquiry always yields responses with the same ``response_id`` and the same
envelope ``message_id``, which the hub deduplicates.
"""

from __future__ import annotations

import uuid
from typing import Protocol, runtime_checkable

from ..schemas.codes import AgencyKind
from ..schemas.enquiry import Enquiry, EnquiryResponse

#: Namespace of every id the connector side derives (never change: ids must be stable across releases).
CONNECTOR_NAMESPACE = uuid.UUID("3c1d9f0e-8a47-5b2c-9e61-7d04a5b8c2f3")


@runtime_checkable
class AgencyConnector(Protocol):
    """What the runtime needs from a connector.

    ``handle`` must be safe to call again for the same enquiry (redelivery):
    it returns the same responses (same ``response_id`` and ``sequence``)
    and delivering into the agency tool twice must not create a second task.
    It may be called from several worker threads at once.

    Raise :class:`PermanentEnquiryError` when this enquiry can never be
    answered (it is parked in the dead-letter queue with the reason); any
    other exception is treated as transient and the enquiry is retried.

    Optional attribute ``answers_inline`` (default False): True when
    ``handle`` computes its answer locally, without waiting on an agency
    system (an in-memory index, a simulator). The runner then calls it on the
    lane's own thread. The worker pool exists for connectors that wait on
    HTTP, MLLP or files; for work that only uses the CPU it adds thread
    hand-offs and nothing else, because the interpreter runs one thread at a
    time.
    """

    agency_id: str
    agency_kind: AgencyKind

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]: ...


class PermanentEnquiryError(Exception):
    """This enquiry cannot be processed however often it is retried.

    ``detail`` goes to the dead-letter headers and logs, so it names fields
    and rules, never personal data.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def response_id_for(enquiry_id: str, agency_id: str, sequence: int) -> str:
    """The ``EnquiryResponse.response_id`` of one answer (same inputs, same id)."""
    return str(uuid.uuid5(CONNECTOR_NAMESPACE, f"response:{agency_id}:{enquiry_id}:{sequence}"))


def response_message_id(enquiry_message_id: str, sequence: int) -> str:
    """The envelope ``message_id`` of the response with ``sequence`` to one enquiry message.

    Derived from the *envelope* id of the enquiry, so a redelivered enquiry
    produces byte-for-byte the same ids and the hub's inbox drops the repeat.
    """
    return str(uuid.uuid5(CONNECTOR_NAMESPACE, f"response-message:{enquiry_message_id}:{sequence}"))
