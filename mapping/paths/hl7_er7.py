"""HL7 v2 (ER7) parsing: the one parser of the live MLLP path and ``mashlink translate hl7v2``.

hl7apy builds a full object tree for every message and manages roughly a
hundred messages a second; an ADT feed from a busy trust sends far more, and a
mapping spec reads a dozen fields from five segments. This parser splits the
message into segment strings once, reads the encoding characters from
MSH-1/MSH-2, and splits fields, repetitions and components only for the
segments a caller asks for. Escape sequences are decoded on the values that
are read, with the message's own escape character.

It lives in the mapping layer so the HL7 v2 path language (``paths/hl7.py``),
the generic ``read_hl7v2`` reader, ``translate hl7v2`` and the health
connector's live feed all split a message the same way (issue 17: one parser).
hl7apy stays the tool for *building* messages (ACKs, REF^I12), for optional
strict validation, and as the benchmark baseline.
"""

from __future__ import annotations

import gc

from dataclasses import dataclass, field as dc_field
from datetime import date, datetime, timedelta, timezone
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class Hl7ParseError(ValueError):
    """A message that cannot be read; carries the HL7 error code (table 0357) and location.

    ``code`` is what the NAK's ERR segment reports: 100 segment sequence error,
    101 required field missing, 102 data type error, 200 unsupported message
    type, 203 unsupported version. The message never contains field *values*
    (they may be personal data), only positions and rules.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int = 102,
        segment: str | None = None,
        sequence: int | None = None,
        field: int | None = None,
        reject: bool = False,
    ) -> None:
        self.code = code
        self.segment = segment
        self.sequence = sequence
        self.field = field
        self.reject = reject
        where = ""
        if segment:
            where = f"{segment}" + (f"-{field}" if field else "")
            where = f" at {where}"
        super().__init__(f"{message}{where}")

    @property
    def location(self) -> str:
        """Human-readable location, e.g. ``PID-7``."""
        if not self.segment:
            return "message"
        return f"{self.segment}-{self.field}" if self.field else self.segment


@dataclass(frozen=True, slots=True)
class Encoding:
    """The five delimiters declared in MSH-1 and MSH-2."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def msh2(self) -> str:
        return f"{self.component}{self.repetition}{self.escape}{self.subcomponent}"


DEFAULT_ENCODING = Encoding()

_FORMATTING_DROP = frozenset({"H", "N"})


def decode_escapes(text: str, enc: Encoding = DEFAULT_ENCODING) -> str:
    """Decode HL7 escape sequences: \\F\\ \\S\\ \\T\\ \\R\\ \\E\\, \\Xhh..\\ and \\.br\\.

    Highlighting (\\H\\, \\N\\) and character-set switches are dropped; an
    unterminated or unknown sequence is kept literally (losing text would be
    worse than showing a stray backslash).
    """
    esc = enc.escape
    if esc not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        j = text.find(esc, i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        k = text.find(esc, j + 1)
        if k < 0:
            out.append(text[j:])
            break
        code = text[j + 1 : k]
        if code == "F":
            out.append(enc.field)
        elif code == "S":
            out.append(enc.component)
        elif code == "T":
            out.append(enc.subcomponent)
        elif code == "R":
            out.append(enc.repetition)
        elif code == "E":
            out.append(esc)
        elif code[:1] == "X" and len(code) > 1 and len(code) % 2 == 1:
            try:
                raw = bytes.fromhex(code[1:])
            except ValueError:
                out.append(text[j : k + 1])
            else:
                try:
                    out.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    out.append(raw.decode("latin-1"))
        elif code == ".br":
            out.append("\n")
        elif code in _FORMATTING_DROP or code[:1] in ("C", "M") or code[:1] == ".":
            pass
        else:
            out.append(text[j : k + 1])
        i = k + 1
    return "".join(out)


def escape_text(text: str, enc: Encoding = DEFAULT_ENCODING) -> str:
    """Escape delimiters in a value before writing it into a message (hl7apy does not)."""
    esc = enc.escape
    text = text.replace(esc, f"{esc}E{esc}")
    text = text.replace(enc.field, f"{esc}F{esc}")
    text = text.replace(enc.component, f"{esc}S{esc}")
    text = text.replace(enc.subcomponent, f"{esc}T{esc}")
    text = text.replace(enc.repetition, f"{esc}R{esc}")
    return text.replace("\r\n", f"{esc}.br{esc}").replace("\r", f"{esc}.br{esc}").replace(
        "\n", f"{esc}.br{esc}"
    )


def split_segments(text: str) -> list[str]:
    """Segments separated by CR, LF or CRLF; blank lines ignored."""
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    return [s for s in text.split("\r") if s]


def parse_ts(value: str, *, field: str = "timestamp") -> datetime | date | None:
    """HL7 TS/DTM ``YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]``.

    Returns a ``date`` for 8 digits or fewer (month and year precision become
    the first day), an aware ``datetime`` otherwise; times without an offset
    are Europe/London local times, as UK systems send them.
    """
    if not value:
        return None
    text = value
    offset: timezone | None = None
    for sign in ("+", "-"):
        pos = text.find(sign, 4)
        if pos > 0:
            tz = text[pos + 1 :]
            text = text[:pos]
            if len(tz) != 4 or not tz.isdigit():
                raise Hl7ParseError(f"{field} has a malformed time zone offset", code=102)
            minutes = int(tz[:2]) * 60 + int(tz[2:])
            offset = timezone(timedelta(minutes=minutes if sign == "+" else -minutes))
            break
    frac = 0
    if "." in text:
        text, frac_text = text.split(".", 1)
        if not frac_text.isdigit():
            raise Hl7ParseError(f"{field} has malformed fractional seconds", code=102)
        frac = int((frac_text + "000000")[:6])
    if not text.isdigit() or len(text) not in (4, 6, 8, 10, 12, 14):
        raise Hl7ParseError(f"{field} must be YYYYMMDD[HHMM[SS]] digits", code=102)
    try:
        year = int(text[0:4])
        month = int(text[4:6]) if len(text) >= 6 else 1
        day = int(text[6:8]) if len(text) >= 8 else 1
        if len(text) <= 8:
            return date(year, month, day)
        hour = int(text[8:10])
        minute = int(text[10:12]) if len(text) >= 12 else 0
        second = int(text[12:14]) if len(text) >= 14 else 0
        return datetime(year, month, day, hour, minute, second, frac, tzinfo=offset or LONDON)
    except ValueError as exc:
        raise Hl7ParseError(f"{field} is not a real date or time", code=102) from exc


def ts_precision(value: str) -> str:
    """'year', 'month' or 'day' for partial dates of birth."""
    digits = len(value.split("+")[0].split("-")[0].split(".")[0])
    return "year" if digits <= 4 else "month" if digits <= 6 else "day"


#: The pre-split form of an empty field, shared by every empty field of every path message.
#: Readers must replace a field (``fields[n] = ...``), never mutate this one.
EMPTY_PATH_FIELD: list = [[[""]]]

Repetition = list[list[str]]  # components -> subcomponents
Field = list[Repetition]


@dataclass
class Hl7Segment:
    """One segment; ``fields[n]`` is field n in HL7 numbering (``fields[0]`` is the name)."""

    name: str
    fields: list[Field]


_NO_SEGMENTS: list["Hl7Segment"] = []


@dataclass
class Hl7Message:
    """A message pre-split for the path language: segments of fields of repetitions of components."""

    segments: list[Hl7Segment] = dc_field(default_factory=list)
    _index: dict[str, list[Hl7Segment]] | None = dc_field(default=None, init=False, repr=False, compare=False)
    _indexed: tuple[int, int] = dc_field(default=(0, -1), init=False, repr=False, compare=False)

    def by_name(self, name: str) -> list[Hl7Segment]:
        """The segments called ``name``, in order (read-only: a spec evaluates a dozen paths per message,
        so the name index is built once, and again only when ``segments`` is replaced or grows)."""
        segments = self.segments
        key = (id(segments), len(segments))
        if self._index is None or self._indexed != key:
            index: dict[str, list[Hl7Segment]] = {}
            for seg in segments:
                index.setdefault(seg.name, []).append(seg)
            self._index, self._indexed = index, key
        return self._index.get(name, _NO_SEGMENTS)


class FastMessage:
    """One ER7 message split into segments; fields split on demand and cached.

    Field numbering follows HL7: ``fields("PID")[3]`` is PID-3. For MSH,
    ``[1]`` is the field separator and ``[2]`` the encoding characters, so
    ``MSH-10`` is ``[10]`` as in every specification.
    """

    __slots__ = ("segments", "enc", "_by_name", "_fields")

    def __init__(self, segments: list[str], enc: Encoding) -> None:
        self.segments = segments
        self.enc = enc
        by_name: dict[str, list[int]] = {}
        for index, seg in enumerate(segments):
            by_name.setdefault(seg[:3], []).append(index)
        self._by_name = by_name
        self._fields: dict[int, list[str]] = {}

    @classmethod
    def parse(cls, data: str | bytes) -> "FastMessage":
        """Split a message; raises ``Hl7ParseError`` when MSH cannot be read."""
        if isinstance(data, (bytes, bytearray)):
            try:
                data = bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                data = bytes(data).decode("latin-1")
        text = data.lstrip("\ufeff \t\r\n")
        segments = split_segments(text)
        if not segments or not segments[0].startswith("MSH"):
            raise Hl7ParseError("message must start with an MSH segment", code=100, reject=True)
        msh = segments[0]
        if len(msh) < 8:
            raise Hl7ParseError(
                "MSH must declare the field separator and four encoding characters",
                code=102, segment="MSH", field=2, reject=True,
            )
        fs = msh[3]
        enc_chars = msh[4:8]
        if fs.isalnum() or any(c.isalnum() for c in enc_chars) or len(set(fs + enc_chars)) != 5:
            raise Hl7ParseError(
                "MSH-1/MSH-2 encoding characters must be five distinct non-alphanumeric characters",
                code=102, segment="MSH", field=2, reject=True,
            )
        if len(msh) > 8 and msh[8] != fs:
            raise Hl7ParseError(
                "MSH-2 must be exactly four encoding characters", code=102, segment="MSH", field=2, reject=True
            )
        enc = Encoding(fs, enc_chars[0], enc_chars[1], enc_chars[2], enc_chars[3])
        for index, seg in enumerate(segments):
            name = seg[:3]
            if len(name) < 3 or not name.isalnum() or not name.isupper() or (len(seg) > 3 and seg[3] != fs):
                raise Hl7ParseError(
                    f"segment {index + 1} does not start with a three-character segment id",
                    code=100, segment=None, reject=False,
                )
        return cls(segments, enc)

    # -- access -------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self._by_name

    def count(self, name: str) -> int:
        return len(self._by_name.get(name, ()))

    def fields(self, name: str, occurrence: int = 0) -> list[str] | None:
        """Raw (still escaped) fields of the n-th segment called ``name``, or None."""
        indexes = self._by_name.get(name)
        if not indexes or occurrence >= len(indexes):
            return None
        return self._split(indexes[occurrence])

    def all_fields(self, name: str) -> list[list[str]]:
        return [self._split(i) for i in self._by_name.get(name, ())]

    def _split(self, index: int) -> list[str]:
        cached = self._fields.get(index)
        if cached is None:
            seg = self.segments[index]
            cached = seg.split(self.enc.field)
            if index == 0 and seg.startswith("MSH"):
                cached.insert(1, self.enc.field)
            self._fields[index] = cached
        return cached

    def raw(self, name: str, field: int, occurrence: int = 0) -> str:
        f = self.fields(name, occurrence)
        if f is None or field >= len(f):
            return ""
        return f[field]

    def value(self, name: str, field: int, component: int = 1, sub: int = 1, occurrence: int = 0) -> str:
        """First repetition's component/subcomponent, escapes decoded ('' when absent)."""
        return self.part(self.raw(name, field, occurrence), component, sub, first_rep=True)

    def part(self, raw: str, component: int = 1, sub: int = 1, *, first_rep: bool = False) -> str:
        """Component (and subcomponent) of one raw repetition or field, decoded."""
        if not raw:
            return ""
        enc = self.enc
        if first_rep and enc.repetition in raw:
            raw = raw.split(enc.repetition, 1)[0]
        if enc.component in raw:
            comps = raw.split(enc.component)
            if component > len(comps):
                return ""
            raw = comps[component - 1]
        elif component != 1:
            return ""
        if enc.subcomponent in raw:
            subs = raw.split(enc.subcomponent)
            if sub > len(subs):
                return ""
            raw = subs[sub - 1]
        elif sub != 1:
            return ""
        return decode_escapes(raw, enc) if enc.escape in raw else raw

    def components(self, raw: str) -> list[str]:
        """All components of one repetition, each reduced to its first subcomponent, decoded.

        Subcomponents are split *before* escapes are decoded, so an escaped
        ``\\T\\`` (a literal ``&``) in a value never splits it.
        """
        if not raw:
            return []
        enc = self.enc
        comps = raw.split(enc.component)
        if enc.subcomponent in raw:
            sub = enc.subcomponent
            comps = [c.split(sub, 1)[0] if sub in c else c for c in comps]
        if enc.escape in raw:
            return [decode_escapes(c, enc) for c in comps]
        return comps

    def repetitions(self, raw: str) -> list[str]:
        if not raw:
            return []
        return raw.split(self.enc.repetition)

    def iter_segments(self) -> Iterator[tuple[str, list[str]]]:
        for index, seg in enumerate(self.segments):
            yield seg[:3], self._split(index)

    # -- header -------------------------------------------------------------
    @property
    def message_type(self) -> str:
        return self.value("MSH", 9, 1)

    @property
    def trigger(self) -> str:
        return self.value("MSH", 9, 2)

    @property
    def structure(self) -> str:
        return self.value("MSH", 9, 3)

    @property
    def control_id(self) -> str:
        return self.value("MSH", 10)

    @property
    def version(self) -> str:
        return self.value("MSH", 12)

    @property
    def processing_id(self) -> str:
        return self.value("MSH", 11)

    def to_er7(self, separator: str = "\r") -> str:
        return separator.join(self.segments)

    def to_path_message(self, names: tuple[str, ...] | None = None) -> Hl7Message:
        """The mapping engine's pre-split ``Hl7Message`` for the named segments (all when None).

        Splitting only the segments a mapping spec reads keeps the mapping
        path as fast as the direct extraction.
        """
        # The tree is acyclic and built in one go: pausing the cyclic garbage collector keeps
        # the cost linear (otherwise every few hundred new lists re-scan all the earlier ones).
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._path_message(names)
        finally:
            if enabled:
                gc.enable()

    def _path_message(self, names: tuple[str, ...] | None) -> Hl7Message:
        enc = self.enc
        out = Hl7Message()
        empty, empty_rep, empty_comp = EMPTY_PATH_FIELD, EMPTY_PATH_FIELD[0], EMPTY_PATH_FIELD[0][0]
        for index, seg in enumerate(self.segments):
            name = seg[:3]
            if names is not None and name not in names:
                continue
            raw = self._split(index)
            fields: list = [[[[name]]]]
            for number, value in enumerate(raw[1:], start=1):
                if not value:
                    # Long runs of empty fields are common (and a cheap attack): one shared,
                    # never-mutated empty field instead of three new lists each keeps memory
                    # (and the garbage collector's work) proportional to the content.
                    fields.append(empty)
                    continue
                if name == "MSH" and number in (1, 2):
                    fields.append([[[value]]])
                    continue
                if enc.escape in value:
                    fields.append(
                        [
                            [[decode_escapes(s, enc) for s in c.split(enc.subcomponent)] for c in r.split(enc.component)]
                            for r in value.split(enc.repetition)
                        ]
                    )
                else:
                    sub, comp = enc.subcomponent, enc.component
                    fields.append(
                        [
                            [c.split(sub) if c else empty_comp for c in r.split(comp)] if r else empty_rep
                            for r in value.split(enc.repetition)
                        ]
                    )
            out.segments.append(Hl7Segment(name, fields))
        return out


def peek_header(data: bytes | str) -> tuple[str, str, str, str]:
    """Best-effort (control id, message type, trigger, version) from a message head.

    Used to address a NAK for a frame that is too large or not parseable:
    never raises, returns empty strings for what cannot be read.
    """
    try:
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data[:4096]).decode("latin-1")
        head = data.lstrip("\ufeff \t\r\n")
        end = len(head)
        for sep in ("\r", "\n"):
            pos = head.find(sep)
            if 0 <= pos < end:
                end = pos
        msh = head[:end]
        if not msh.startswith("MSH") or len(msh) < 8:
            return "", "", "", ""
        fs, comp = msh[3], msh[4]
        f = msh.split(fs)
        f.insert(1, fs)

        def get(n: int) -> str:
            return f[n] if n < len(f) else ""

        msg_type = get(9).split(comp)
        return (
            get(10).split(comp)[0][:199],
            msg_type[0][:3] if msg_type else "",
            msg_type[1][:3] if len(msg_type) > 1 else "",
            get(12).split(comp)[0][:10],
        )
    except Exception:  # pragma: no cover - defensive: a NAK must always be addressable
        return "", "", "", ""


def hl7_ts(args: Any) -> Callable[[Any], Any]:
    """Transform ``hl7_ts``: an HL7 TS/DTM value read as the live feed reads it (``parse_ts``).

    ``{hl7_ts: {part: datetime}}`` (the default) gives an aware date-time, or a
    date for 8 digits or fewer; ``part: date`` always a date (the day of a
    date-time; a partial date is its first day); ``part: precision`` how much
    of a date was sent (``year``, ``month``, ``day``, for
    ``birth_date.precision``), and nothing for an unreadable value, which the
    rule reading the date itself reports. ``at_least: day`` (or ``month``)
    refuses a less precise value (a visit dated only "2013" is flagged, not
    placed on 1 January). Times without an offset
    are Europe/London, as UK systems send them. A malformed value raises
    ``TransformError`` naming the rule, never the value.
    """
    from ..errors import TransformError

    opts = args if isinstance(args, dict) else {}
    if args not in (None, True) and not isinstance(args, dict):
        raise ValueError("hl7_ts takes {part: datetime|date|precision, at_least: year|month|day}")
    unknown = set(opts) - {"part", "at_least"}
    if unknown:
        raise ValueError(f"hl7_ts: unknown options {sorted(unknown)}")
    part = opts.get("part", "datetime")
    if part not in ("datetime", "date", "precision"):
        raise ValueError("hl7_ts: part must be datetime, date or precision")
    ranks = {"year": 0, "month": 1, "day": 2}
    at_least = opts.get("at_least", "year")
    if at_least not in ranks:
        raise ValueError("hl7_ts: at_least must be year, month or day")
    least = ranks[at_least]

    def apply(value: Any) -> Any:
        text = value if isinstance(value, str) else str(value)
        try:
            parsed = parse_ts(text.strip(), field="value")
        except Hl7ParseError as exc:
            if part == "precision":
                return None
            raise TransformError(str(exc).replace("value ", "HL7 TS value ", 1)) from None
        if parsed is not None and least and ranks[ts_precision(text.strip())] < least:
            if part == "precision":
                return None
            raise TransformError(f"HL7 TS value is less precise than a {at_least} (at_least: {at_least})")
        if part == "precision":
            return None if parsed is None else ts_precision(text.strip())
        if part == "date" and isinstance(parsed, datetime):
            return parsed.date()
        return parsed
    return apply
