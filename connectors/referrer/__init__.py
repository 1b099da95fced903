"""Telling the referrer the outcome: the ``referrer.outcomes`` consumer (``mashlink notify-referrers``).

* :mod:`.render`: the message from the outcome type's Jinja2 template;
* :mod:`.channels`: email over SMTP and signed web hooks, each sorting
  failures into transient (retried by the broker consumer with back-off) and
  permanent (parked with the reason, replayable with ``mashlink dlq``);
* :mod:`.receipts`: the JSONL delivery receipts, which are also the store of
  delivered outcome ids that makes a redelivery send nothing;
* :mod:`.notifier`: the batch handler, its runner and broker wiring.

Agency-side plumbing: this package never imports the hub.
"""
