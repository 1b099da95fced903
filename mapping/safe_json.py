"""One JSON loader for every native JSON input (generic JSON, FHIR, POLE): bounded cost, clear errors.

``json.loads`` on field input fails in ways that are not a bad-input error:
nesting a hundred thousand arrays deep raises ``RecursionError``; an integer
of more than 4,300 digits raises ``ValueError`` (Python's int string
conversion limit); a few MB of tiny nested containers become hundreds of MB
of Python objects. ``loads`` checks the text first, in one linear scan
that never recurses, and refuses with an ``InputError`` that names the
limit and the line and column where it was passed:

- ``MAX_BYTES`` characters of text per input (``MASHLINK_JSON_MAX_BYTES``);
- ``MAX_DEPTH`` levels of nested arrays/objects (``MASHLINK_JSON_MAX_DEPTH``);
- ``MAX_VALUES`` values (strings, numbers, literals, arrays, objects) per
  input (``MASHLINK_JSON_MAX_VALUES``), which bounds memory;
- ``MAX_NUMBER_CHARS`` characters in one number (no safeguarding field holds
  a 100-digit number; the check keeps int conversion cheap and in range).

Only then is the text parsed, by ``json.loads``; the scan has made the
parse safe, and any remaining syntax error is reported as before.
"""

from __future__ import annotations

import json
import re
import string
from typing import Any

from .errors import InputError
from .limits import env_int


MAX_BYTES = env_int("MASHLINK_JSON_MAX_BYTES", 256 * 1024 * 1024)
MAX_DEPTH = env_int("MASHLINK_JSON_MAX_DEPTH", 64)
MAX_VALUES = env_int("MASHLINK_JSON_MAX_VALUES", 1_000_000)
MAX_NUMBER_CHARS = 100

# One token per match: a whole string (skipped), a bracket, a number or a literal.
# A lone '"' is an unterminated string: the scan stops there and json.loads reports it (scanning on
# from every later quote would cost quadratic time).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|"|[\[{]|[\]}]|-?[0-9][0-9.eE+\-]*|true|false|null', re.DOTALL)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


# The screen (``_within_limits``) first turns every string into one ``S``. Without an escaped quote in the
# text, strings are exactly the pieces between quotes (``str.split``); otherwise a regex takes each string to
# its closing quote or, unterminated, to the end of the text (possessive and unrolled: each quote is scanned
# once, so it stays linear where a backtracking one is quadratic on '"\"\"...').
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_LONG_NUMBER = re.compile(r"[0-9][0-9.eE+\-]{%d}" % (MAX_NUMBER_CHARS - 1))
#: number and literal characters -> "x", the rest of ASCII -> " ": a run of "x" is one number or literal
_RUNS = str.maketrans({chr(c): "x" if chr(c) in string.digits + "-+.eE" or chr(c).islower() else " " for c in range(128)})
#: brackets -> "(" / ")", the rest of ASCII deleted (anything else left makes the pairs unbalanced)
_ONLY_BRACKETS = str.maketrans({chr(c): "(" if chr(c) in "[{" else ")" if chr(c) in "]}" else None
                                for c in range(128)})


def _strings_as_s(text: str) -> str:
    if '\\"' not in text:
        parts = text.split('"')
        if len(parts) % 2:  # every string closed
            return "S".join(parts[0::2])
    return _STRING.sub("S", text)


def _within_limits(text: str, max_depth: int, max_values: int) -> bool:
    """True when ``text`` is within the limits, found by a few C-level passes instead of a loop per token.

    ``_scan``'s Python loop per token cost more than parsing (29 us against 4.7 us of ``json.loads`` per
    generic-JSON case); this costs about a fifth of it. False means "maybe not": ``_scan`` then decides
    and names the position. Outside strings the screen counts exactly what ``_scan`` counts in valid JSON
    (numbers and literals are then separated by structure or spaces); in text that is not JSON it can
    differ only after the first syntax error, where ``json.loads`` stops, so the bounds still hold.
    """
    bare = _strings_as_s(text)
    if _LONG_NUMBER.search(bare) is not None:
        return False
    values = bare.count("S") + bare.count("[") + bare.count("{") + len(bare.translate(_RUNS).split())
    if values > max_values:
        return False
    brackets = bare.translate(_ONLY_BRACKETS)
    depth = 0
    while brackets:  # each pass removes the innermost pairs: passes = nesting depth of a balanced text
        shorter = brackets.replace("()", "")
        depth += 1
        if len(shorter) == len(brackets) or depth > max_depth:
            return False  # unbalanced (or not JSON) or too deep: _scan decides
        brackets = shorter
    return True


def check(text: str, source: str, *, max_bytes: int | None = None, max_depth: int | None = None,
          max_values: int | None = None) -> None:
    """Raise ``InputError`` when ``text`` passes a limit; linear in its length, no recursion."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    max_depth = MAX_DEPTH if max_depth is None else max_depth
    max_values = MAX_VALUES if max_values is None else max_values
    if len(text) > max_bytes:
        raise InputError(source, f"JSON input too large: {len(text)} characters, the limit is {max_bytes} "
                                 "(MASHLINK_JSON_MAX_BYTES)")
    if not _within_limits(text, max_depth, max_values):
        _scan(text, source, max_depth, max_values)


def _scan(text: str, source: str, max_depth: int, max_values: int) -> None:
    """The exact check, one token at a time: raises ``InputError`` naming the limit, line and column."""
    depth = 0
    values = 0
    for match in _TOKEN.finditer(text):
        first = text[match.start()]
        if first == "[" or first == "{":
            depth += 1
            values += 1
            if depth > max_depth:
                line, col = _line_col(text, match.start())
                raise InputError(source, f"JSON nested too deeply: more than {max_depth} levels of arrays/objects "
                                         "(limit MASHLINK_JSON_MAX_DEPTH)", line, col)
        elif first == "]" or first == "}":
            depth -= 1
        elif first == '"' and match.end() - match.start() == 1:
            break
        else:
            values += 1
            if first != '"' and match.end() - match.start() > MAX_NUMBER_CHARS:
                line, col = _line_col(text, match.start())
                raise InputError(source, f"JSON number too long: {match.end() - match.start()} characters, "
                                         f"the limit is {MAX_NUMBER_CHARS}", line, col)
        if values > max_values:
            line, col = _line_col(text, match.start())
            raise InputError(source, f"JSON input has too many values: more than {max_values} "
                                     "(limit MASHLINK_JSON_MAX_VALUES)", line, col)


def loads(text: str, source: str, **limits: Any) -> Any:
    """Parse ``text`` (from ``source``, a file name for messages) within the limits; raises ``InputError``."""
    check(text, source, **limits)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except (RecursionError, ValueError) as exc:  # not reachable after check(); never a traceback
        raise InputError(source, f"JSON input refused: {type(exc).__name__}") from None
