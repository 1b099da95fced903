"""Agency connectors: the agency side of the enquiry loop.

* :mod:`mashlink.connectors.base` - the ``AgencyConnector`` interface and deterministic ids;
* :mod:`mashlink.connectors.runtime` - ``ConnectorRunner``: red lane, standard lane, graceful shutdown;
* :mod:`mashlink.connectors.wiring` - codec and broker factory for one agency from settings;
* :mod:`mashlink.connectors.reference` - reference connectors over simulated agency systems;
* :mod:`mashlink.connectors.simulators` - the synthetic population, agency simulators, referrals.
"""

from .base import (
    AgencyConnector,
    PermanentEnquiryError,
    response_id_for,
    response_message_id,
)

__all__ = ["AgencyConnector", "PermanentEnquiryError", "response_id_for", "response_message_id"]
