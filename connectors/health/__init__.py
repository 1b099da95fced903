"""Health connector: HL7 v2 over MLLP (ADT feed, REF/RRI I12) and FHIR R4 (UK Core).

Modules, each with one job:

* ``mllp``: MLLP framing, server and client over TCP.
* ``hl7_mapping``: HL7 v2 -> canonical ``AgencyRecord`` through the YAML spec
  (``config/mappings/hl7v2-adt.yaml``), live and in ``translate hl7v2``,
  over the one HL7 parser (``mapping/paths/hl7_er7.py``, used directly);
  ``hl7_extract``: event header facts (MSH,
  EVN, PV1 visit key, MRG) the ADT event and alert need besides the record.
* ``hl7_ack``: ACK/NAK messages built with hl7apy.
* ``adt``: the ADT feed as canonical events, with the ED-attendance alert.
* ``referral``: REF^I12 enquiries out, RRI^I12 answers in.
* ``fhir_mapping``: FHIR R4 -> ``AgencyRecord`` through the YAML spec
  (``config/mappings/fhir-r4.yaml``), live and in ``translate fhir``;
  ``fhir_translate``: Flag classification and per-trust mapping options;
  ``spec_notes``: what both translators add that YAML cannot say.
* ``fhir_*``: FHIR R4 client, validation, Task delivery and a simulator;
  ``fhir_tasks``: Model 3 Task connector and the poller publishing answers later.
* ``options``: typed connector options (``connector: fhir`` / ``hl7v2``).
* ``wiring``: builders used by ``mashlink.connectors.factory``.
* ``adt_service``: ADT listener, alert publisher, watch lists, events consumer.
* ``state``: the SQLite watch list and open-Task records in the state dir.
* ``simulators``: seeded synthetic trust (FHIR server, MLLP peer) for CLI, tests, demo.
"""
