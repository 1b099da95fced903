"""Identity matching shared by the hub and every connector.

Why a layer of its own: the hub re-checks what each agency's connector found,
and each connector searches its own agency's records. Both must apply the same
rules, so the rules sit below both (imports run ``schemas <- matching <-
connectors, hub``). This package imports only ``schemas`` and ``config``.

Probabilistic matching (the one matcher for every agency; see docs/matching.md):

- :mod:`~mashlink.matching.comparisons`: per-field comparison levels of two people.
- :mod:`~mashlink.matching.model`: Fellegi-Sunter m/u weights, trained by EM
  and from review decisions.
- :mod:`~mashlink.matching.term_frequency`: common names and postcodes weigh less.
- :mod:`~mashlink.matching.scorer`: calibrated probability, each field's
  contribution, and the vetoes (a different given name or date of birth never
  auto-matches).
- :mod:`~mashlink.matching.decide`: near-ties and household members go to a person.
- :mod:`~mashlink.matching.policy`: per-agency thresholds, also as an expected
  false-match rate.
- :mod:`~mashlink.matching.blocking`, :mod:`~mashlink.matching.feature_store`,
  :mod:`~mashlink.matching.index`: the candidate-search index (SQLite, several
  blocking passes, incremental loads) behind ``mashlink match index build`` and
  ``mashlink match search``.

Pairwise rules (still used where a connector has not moved to the index):

- :mod:`~mashlink.matching.rules`: method, confidence, decision and reasons for two records.
- :mod:`~mashlink.matching.names`: name normalisation, Jaro-Winkler, nicknames, phonetic keys.
"""
