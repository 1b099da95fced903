"""Every agency receives its events in its own tool, and says so with a receipt.

* :mod:`.decode`: outcome / decision / escalation / withdrawal / alert envelopes, minimised;
* :mod:`.render`: the text from Jinja2 templates per agency kind (``config/outcome_templates/agency``);
* :mod:`.channels`, :mod:`.fhir_channel`, :mod:`.hl7_channel`: web hook, drop folder, FHIR
  Communication, HL7 v2 MDM^T02 over MLLP;
* :mod:`.store`: delivered events (idempotency, acknowledgement scan);
* :mod:`.receipts`: ``DeliveryReceipt`` envelopes on ``receipt.<agency>``;
* :mod:`.consumer`: the batch handler and the ``agency-events`` background service;
* :mod:`.options`, :mod:`.wiring`: ``options.events`` of every connector kind.

Agency-side plumbing: this package never imports the hub.
"""
