"""Value transforms named in specs: ``transforms: [trim, {date: {formats: [dd/mm/yyyy]}}]``.

Each transform is a factory: it checks its arguments when the spec is loaded
(a bad argument is a spec error with a line number) and returns a plain
function applied per value. Functions receive a non-empty value and raise
``TransformError`` with a message that never contains the value itself.
``LIST_TRANSFORMS`` take the whole list of matches instead of one value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

from .errors import TransformError, value_shape

Transform = Callable[[Any], Any]
Factory = Callable[[Any], Transform]


def _no_args(name: str, args: Any) -> None:
    if args not in (None, {}, True):
        raise ValueError(f"transform {name!r} takes no arguments")


def _str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def trim(args: Any) -> Transform:
    _no_args("trim", args)
    return lambda v: _str(v).strip()


def collapse_spaces(args: Any) -> Transform:
    _no_args("collapse_spaces", args)
    return lambda v: " ".join(_str(v).split())


def upper(args: Any) -> Transform:
    _no_args("upper", args)
    return lambda v: _str(v).upper()


def lower(args: Any) -> Transform:
    _no_args("lower", args)
    return lambda v: _str(v).lower()


_WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*", re.UNICODE)


def _title_word(word: str) -> str:
    low = word.lower()
    if "'" in low or "\u2019" in low:  # O'Brien, D'Souza
        head, _, tail = low.partition("'" if "'" in low else "\u2019")
        sep = "'" if "'" in low else "\u2019"
        return head.capitalize() + sep + tail.capitalize() if len(head) <= 2 else low.capitalize()
    if low.startswith("mc") and len(low) > 2:
        return "Mc" + low[2:].capitalize()
    return low.capitalize()


def title_case(text: str) -> str:
    """Title-case a name: hyphens, apostrophes and Mc prefixes kept sensible."""
    return _WORD_RE.sub(lambda m: _title_word(m.group(0)), text)


def title(args: Any) -> Transform:
    _no_args("title", args)
    return lambda v: title_case(_str(v))


def name(args: Any) -> Transform:
    """Trim and collapse spaces; ``{name: {case: title}}`` also title-cases (only where asked)."""
    case = None
    if isinstance(args, dict):
        unknown = set(args) - {"case"}
        if unknown:
            raise ValueError(f"name: unknown options {sorted(unknown)}")
        case = args.get("case")
        if case not in (None, "title", "upper", "keep"):
            raise ValueError("name: case must be title, upper or keep")
    elif args not in (None, True):
        raise ValueError("name takes {case: title|upper|keep}")

    def apply(v: Any) -> str:
        text = " ".join(_str(v).split())
        if case == "title":
            return title_case(text)
        if case == "upper":
            return text.upper()
        return text
    return apply


# --- dates -----------------------------------------------------------------

_DATE_TOKENS = [
    ("yyyy", r"(?P<y>\d{4})"),
    ("yy", r"(?P<yy>\d{2})"),
    ("mm", r"(?P<m>\d{1,2})"),
    ("dd", r"(?P<d>\d{1,2})"),
    ("HH", r"(?P<H>\d{1,2})"),
    ("MM", r"(?P<M>\d{2})"),
    ("SS", r"(?P<S>\d{2})"),
]
NAMED_DATE_FORMATS = ("iso", "dd/mm/yyyy", "dd/mm/yy", "dd-mm-yyyy", "dd.mm.yyyy", "yyyymmdd", "yyyy-mm-dd")


def _format_regex(fmt: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(fmt):
        for token, rx in _DATE_TOKENS:
            if fmt.startswith(token, i):
                if fmt == "yyyymmdd" or token in ("yyyy",) and "yyyymmdd" in fmt:
                    rx = rx.replace(r"\d{1,2}", r"\d{2}")
                out += rx
                i += len(token)
                break
        else:
            ch = fmt[i]
            if ch.isalpha():
                raise ValueError(
                    f"date format {fmt!r}: unknown token at {fmt[i:]!r} (use dd, mm, yyyy, yy, HH, MM, SS)"
                )
            out += re.escape(ch)
            i += 1
    if "(?P<m>" not in out and "(?P<y>" not in out and "(?P<yy>" not in out:
        raise ValueError(f"date format {fmt!r} has no year or month")
    if fmt.isalpha() or re.fullmatch(r"[ymd]+", fmt):
        out = out.replace(r"\d{1,2}", r"\d{2}")
    return re.compile(out + r"$")


def resolve_two_digit_year(yy: int, month: int, day: int, pivot: Any, today: date) -> int:
    """Two-digit years: ``past`` picks the most recent year not after today (dates of birth)."""
    if pivot == "past":
        year = today.year // 100 * 100 + yy
        if (year, month, day) > (today.year, today.month, today.day):
            year -= 100
        return year
    return (2000 if yy < int(pivot) else 1900) + yy


def date_transform(args: Any, *, with_time: bool = False) -> Transform:
    """``{date: {formats: [dd/mm/yyyy, iso], pivot: past|NN, not_future: true}}``."""
    opts = args if isinstance(args, dict) else {}
    if args not in (None, True) and not isinstance(args, dict):
        raise ValueError("date takes {formats: [...], pivot: past|NN, not_future: bool}")
    unknown = set(opts) - {"formats", "pivot", "not_future"}
    if unknown:
        raise ValueError(f"date: unknown options {sorted(unknown)}")
    formats = opts.get("formats", ["iso"])
    if isinstance(formats, str):
        formats = [formats]
    pivot = opts.get("pivot", "past")
    if pivot != "past" and not (isinstance(pivot, int) and 0 <= pivot <= 99):
        raise ValueError("date: pivot must be 'past' or a number 0-99")
    not_future = bool(opts.get("not_future", False))
    compiled: list[tuple[str, re.Pattern[str] | None]] = []
    for fmt in formats:
        if fmt == "iso":
            compiled.append((fmt, None))
        else:
            compiled.append((fmt, _format_regex(str(fmt))))
    label = ", ".join(str(f) for f in formats)

    def parse(v: Any) -> Any:
        if isinstance(v, datetime):
            return v if with_time else v.date()
        if isinstance(v, date):
            return v
        text = _str(v).strip()
        today: date | None = None  # read only when needed (two-digit years, not_future): once per value is costly
        for fmt, rx in compiled:
            try:
                if rx is None:
                    if with_time:
                        result: Any = datetime.fromisoformat(text.replace("Z", "+00:00"))
                    elif len(text) == 10:
                        result = date.fromisoformat(text)
                    else:
                        result = datetime.fromisoformat(text.replace("Z", "+00:00")).date()
                else:
                    m = rx.match(text)
                    if not m:
                        continue
                    g = m.groupdict()
                    month, day = int(g.get("m") or 1), int(g.get("d") or 1)
                    if g.get("yy") is not None:
                        if today is None:
                            today = date.today()
                        year = resolve_two_digit_year(int(g["yy"]), month, day, pivot, today)
                    else:
                        year = int(g["y"])
                    if with_time:
                        result = datetime(year, month, day, int(g.get("H") or 0), int(g.get("M") or 0),
                                          int(g.get("S") or 0))
                    else:
                        result = date(year, month, day)
            except ValueError:
                if rx is not None:
                    raise TransformError(f"value shaped {value_shape(text)!r} is not a real date ({fmt})") from None
                continue
            if not_future and (result.date() if isinstance(result, datetime) else result) > (today or date.today()):
                raise TransformError("date is in the future (not_future is set)")
            return result
        raise TransformError(f"value shaped {value_shape(text)!r} matches none of the date formats: {label}")
    return parse


def datetime_transform(args: Any) -> Transform:
    """Like ``date`` but keeps the time; ISO values with offsets stay aware, others are naive."""
    inner = date_transform(args, with_time=True)

    def parse(v: Any) -> Any:
        result = inner(v)
        if isinstance(result, datetime) and result.tzinfo is None and isinstance(args, dict) and args.get("utc"):
            return result.replace(tzinfo=timezone.utc)
        return result
    return parse


# --- postcodes, booleans, numbers -------------------------------------------

_POSTCODE_RE = re.compile(r"^(GIR 0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? \d[ABD-HJLNP-UW-Z]{2})$")


def normalise_postcode(raw: str) -> str:
    compact = re.sub(r"\s+", "", raw).upper()
    return compact if len(compact) < 5 else f"{compact[:-3]} {compact[-3:]}"


def postcode(args: Any) -> Transform:
    """Normalise spacing and case; validate UK format. ``{postcode: {invalid: keep}}`` keeps bad ones."""
    opts = args if isinstance(args, dict) else {}
    invalid = opts.get("invalid", "error")
    if invalid not in ("error", "keep", "drop") or set(opts) - {"invalid"}:
        raise ValueError("postcode takes {invalid: error|keep|drop}")

    def apply(v: Any) -> Any:
        value = normalise_postcode(_str(v))
        if _POSTCODE_RE.match(value):
            return value
        if invalid == "keep":
            return value
        if invalid == "drop":
            return None
        raise TransformError(f"value shaped {value_shape(value)!r} is not a UK postcode")
    return apply


TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f"})


def boolean(args: Any) -> Transform:
    """true/TRUE/1/yes/Y -> True; false/0/no/N -> False; anything else is an error."""
    _no_args("bool", args)

    def apply(v: Any) -> bool:
        if isinstance(v, bool):
            return v
        word = _str(v).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise TransformError(f"value shaped {value_shape(word)!r} is not a boolean (true/false, 1/0, yes/no, Y/N)")
    return apply


def integer(args: Any) -> Transform:
    _no_args("int", args)

    def apply(v: Any) -> int:
        try:
            return int(_str(v).strip())
        except ValueError:
            raise TransformError(f"value shaped {value_shape(v)!r} is not a whole number") from None
    return apply


def digits(args: Any) -> Transform:
    """Keep digits only (``999 123 4567`` -> ``9991234567``)."""
    _no_args("digits", args)
    return lambda v: re.sub(r"\D", "", _str(v))


def prefix(args: Any) -> Transform:
    if not isinstance(args, str):
        raise ValueError("prefix takes a string")
    return lambda v: args + _str(v)


def suffix(args: Any) -> Transform:
    if not isinstance(args, str):
        raise ValueError("suffix takes a string")
    return lambda v: _str(v) + args


def split(args: Any) -> Transform:
    """Split a string into a list (``{split: ";"}``, default whitespace); empty parts dropped."""
    sep = None if args in (None, True) else args
    if sep is not None and not isinstance(sep, str):
        raise ValueError("split takes a separator string")
    return lambda v: [p.strip() for p in _str(v).split(sep) if p.strip()]


def join(args: Any) -> Transform:
    """Concatenate the non-empty values of a multi-source rule (``{join: " "}``, default one space)."""
    sep = " " if args in (None, True) else args
    if not isinstance(sep, str):
        raise ValueError("join takes a separator string")

    def apply(v: Any) -> Any:
        if isinstance(v, list):
            parts = [_str(p).strip() for p in v if p is not None and _str(p).strip()]
            return sep.join(parts) if parts else None
        return v
    return apply


def first(args: Any) -> Transform:
    _no_args("first", args)
    return lambda v: (v[0] if v else None) if isinstance(v, list) else v


def replace(args: Any) -> Transform:
    """``{replace: {pattern: REGEX, with: TEXT}}``: regular-expression substitution."""
    if not isinstance(args, dict) or "pattern" not in args:
        raise ValueError("replace takes {pattern: REGEX, with: TEXT}")
    try:
        rx = re.compile(str(args["pattern"]))
    except re.error as exc:
        raise ValueError(f"replace: bad pattern: {exc}") from None
    repl = str(args.get("with", ""))
    return lambda v: rx.sub(repl, _str(v))


TRANSFORMS: dict[str, Factory] = {
    "trim": trim,
    "collapse_spaces": collapse_spaces,
    "upper": upper,
    "lower": lower,
    "title": title,
    "name": name,
    "date": date_transform,
    "datetime": datetime_transform,
    "postcode": postcode,
    "bool": boolean,
    "int": integer,
    "digits": digits,
    "prefix": prefix,
    "suffix": suffix,
    "split": split,
    "join": join,
    "first": first,
    "replace": replace,
}

# HL7 v2 TS/DTM, read exactly as the HL7 parser reads it (one reading of HL7 time for every path).
from .paths.hl7_er7 import hl7_ts as _hl7_ts  # noqa: E402  (after the table: paths import no transforms)

TRANSFORMS["hl7_ts"] = _hl7_ts

#: Transforms that see the whole list of values rather than each one.
LIST_TRANSFORMS = frozenset({"join", "first"})


def describe(spec: str | dict[str, Any]) -> str:
    """Short text of a transform for ``--explain``."""
    if isinstance(spec, str):
        return spec
    (key, value), = spec.items()
    if isinstance(value, dict):
        inner = ", ".join(f"{k}={v}" for k, v in value.items())
        return f"{key}({inner})"
    return f"{key}({value!r})"
