"""The health connector's names for the one HL7 v2 parser (``mapping/paths/hl7_er7.py``).

The parser moved to the mapping layer (issue 17) so the live MLLP feed,
``mashlink translate hl7v2`` and the HL7 v2 path language split a message the
same way; this module keeps the connector-side import path for ACK/NAK
building, the receiver, the referral channel and tests.
"""

from __future__ import annotations

from ...mapping.paths.hl7_er7 import (
    DEFAULT_ENCODING,
    EMPTY_PATH_FIELD,
    LONDON,
    Encoding,
    FastMessage,
    Hl7ParseError,
    decode_escapes,
    escape_text,
    parse_ts,
    peek_header,
    split_segments,
    ts_precision,
)

__all__ = [
    "DEFAULT_ENCODING", "EMPTY_PATH_FIELD", "LONDON", "Encoding", "FastMessage", "Hl7ParseError",
    "decode_escapes", "escape_text", "parse_ts", "peek_header", "split_segments", "ts_precision",
]
