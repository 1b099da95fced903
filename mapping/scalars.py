"""Is a native value a single value? A value rule never turns structure into text.

A path that should give a leaf can meet structure in field input: a JSON
surname given as an object (``{"A": ["Testerson"]}``), an XML leaf that
wraps a child element (``<NHSnumber><x>...</x></NHSnumber>``), an HL7 segment.
``str()`` of those is a Python repr (``"{'A': ['Testerson']}"``, or
``<Element x at 0x7f...>`` whose digits once made a 9-digit "NHS number").
Both the rule interpreter and the generated fast path ask ``structure_of``
first; a structure is an issue on the field (rule ``structure``, with the
native path and spec line), never a value.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from lxml import etree

from .limits import env_int

_SCALARS = (str, int, float, bool, Decimal, date, datetime, time)
_Element = etree._Element


def structure_of(value: Any) -> str | None:
    """None for a single value (or a list of them); else what it is, for the error message."""
    if isinstance(value, _SCALARS) or value is None:
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            kind = structure_of(item) if not isinstance(item, (list, tuple)) else "a nested list"
            if kind is not None:
                return kind
        return None
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, _Element):
        return f"an element with child elements (<{etree.QName(value).localname}>)" \
            if isinstance(value.tag, str) else "an XML node"
    return f"a {type(value).__name__} structure"


#: Items one ``for_each`` may produce in one record (``MASHLINK_MAX_ITEMS_PER_RULE``). A few MB of native
#: input fanned out into one canonical record of 100,000 findings cost GB of memory; a record over the
#: limit is rejected with an error naming it.
MAX_ITEMS_PER_RULE = env_int("MASHLINK_MAX_ITEMS_PER_RULE", 10_000)
TOO_MANY_ITEMS_MESSAGE = "{count} items, the limit is {limit} per record (MASHLINK_MAX_ITEMS_PER_RULE)"

STRUCTURE_MESSAGE = "{kind} where a single value is expected (structure is never turned into text)"
