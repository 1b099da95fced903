"""Identity matching shared by the hub and every connector.

Why a layer of its own: the hub re-checks what each agency's connector found,
and each connector searches its own agency's records. Both must apply the same
rules, so the rules sit below both (imports run ``schemas <- matching <-
connectors, hub``). This package imports only ``schemas`` and ``config``.

- :mod:`mashlink.matching.rules`: pairwise comparison of two canonical
  ``Person`` records (method, confidence, decision, reasons).
- :mod:`mashlink.matching.names`: name normalisation, Jaro-Winkler, nicknames.
"""
