"""Hardened XML parsing for agency extracts (CTF, CIN census, SSDA903 XML).

Agency XML arrives from systems we do not control, often by drop folder. A
document type declaration is the door to every classic XML attack: external
entities (``<!ENTITY x SYSTEM "file:///etc/passwd">`` reads local files or
fetches URLs), entity expansion ("billion laughs" turns 1 KB into gigabytes),
and parameter entities that pull in remote DTDs. None of the DfE formats needs
a DTD, so the rule here is simple and strict: **any DOCTYPE is refused** before
the parser sees it, entities are never resolved, the network is never touched,
and input larger than the caller's cap is refused.

Defence in depth, because one check can be wrong:

1. a prolog scan refuses ``<!DOCTYPE`` (in any case) before lxml parses a byte
   of it, naming the source and line; nothing from the declaration is echoed;
2. the lxml parser is built with ``resolve_entities=False, no_network=True,
   load_dtd=False, dtd_validation=False, huge_tree=False``, so even a DOCTYPE
   the scan missed could not be expanded or fetched;
3. after parsing, a document that still carries a DTD or entity nodes is
   refused;
4. byte caps are enforced while reading (a file that grows while being read
   is still caught), not only from the file size.

``iterparse_safe`` streams big files with flat memory: each element handed to
the caller is cleared (with its already-processed preceding siblings) when the
caller asks for the next one, so a 1 GB census keeps only one record in memory.
"""

from __future__ import annotations

import codecs
import io
import os
import re
from collections.abc import Iterator, Sequence
from typing import IO, Any

from lxml import etree

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MalformedXmlError",
    "UnsafeXmlError",
    "XmlInputError",
    "XmlTooLargeError",
    "iterparse_safe",
    "parse_bytes",
    "parse_file",
    "safe_parser",
]

#: A sensible cap for one agency extract parsed whole (streaming callers pass their own).
DEFAULT_MAX_BYTES = 200 * 1024 * 1024

# The prolog (XML declaration, comments, processing instructions) must end
# within this many bytes; a root element further in is refused rather than
# scanned forever.
_PROLOG_LIMIT = 1024 * 1024
_CHUNK = 64 * 1024

_POSITION_SUFFIX = re.compile(r",? *\(?(line \d+)(, column \d+)?\)?$")

# Parser options that make lxml/libxml2 safe; callers may not override them.
_HARDENED: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "attribute_defaults": False,
}


class XmlInputError(ValueError):
    """XML input that was not parsed; names the source, the line and the reason.

    The message never quotes document content: it describes what was wrong
    and where, so it can be logged and shown without disclosing personal data
    (or, for a hostile file, the content an attacker hoped to reflect).
    """

    def __init__(self, source: str, reason: str, line: int | None = None, column: int | None = None) -> None:
        self.source = source
        self.reason = reason
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f", line {self.line}"
            if self.column is not None:
                where += f", column {self.column}"
        return f"{where}: {self.reason}"


class UnsafeXmlError(XmlInputError):
    """The input uses a feature refused for safety (DOCTYPE, DTD, entities) or is too large."""


class XmlTooLargeError(UnsafeXmlError):
    """The input is larger than the caller's byte cap."""

    def __init__(self, source: str, max_bytes: int, seen: int | None = None) -> None:
        detail = f"more than {max_bytes} bytes" if seen is None else f"{seen} bytes, more than {max_bytes}"
        super().__init__(source, f"refused: input is {detail} (size cap)")
        self.max_bytes = max_bytes


class MalformedXmlError(XmlInputError):
    """The input is not well-formed XML."""


def safe_parser(**opts: Any) -> etree.XMLParser:
    """An lxml ``XMLParser`` with entity resolution, DTD loading and network access off.

    Non-security options (``remove_blank_text``, ``remove_comments``,
    ``collect_ids``, ``encoding`` ...) may be passed; trying to switch a
    security option back on raises ``ValueError``. ``recover`` is refused too:
    silently repaired input hides data loss.

    Note that a parser alone cannot refuse a DOCTYPE before parsing it; use
    ``parse_bytes``/``parse_file``/``iterparse_safe``, which do.
    """
    for key, safe_value in _HARDENED.items():
        if key in opts and opts[key] != safe_value:
            raise ValueError(f"safe_parser: option {key}={opts[key]!r} is not allowed (must be {safe_value!r})")
    if opts.get("recover"):
        raise ValueError("safe_parser: option recover=True is not allowed (repairs would hide data loss)")
    options = dict(opts)
    options.update(_HARDENED)
    options["recover"] = False
    return etree.XMLParser(**options)


# ---------------------------------------------------------------------------
# Prolog scan: refuse a DOCTYPE before any parser sees it


def _prolog_decoder(head: bytes) -> tuple[codecs.IncrementalDecoder, int]:
    """Pick a decoder good enough to read the prolog's ASCII markup; returns (decoder, bytes to skip)."""
    if head.startswith(codecs.BOM_UTF32_LE) or head.startswith(codecs.BOM_UTF32_BE):
        name = "utf-32-le" if head.startswith(codecs.BOM_UTF32_LE) else "utf-32-be"
        return codecs.getincrementaldecoder(name)(errors="replace"), 4
    if head.startswith(codecs.BOM_UTF16_LE):
        return codecs.getincrementaldecoder("utf-16-le")(errors="replace"), 2
    if head.startswith(codecs.BOM_UTF16_BE):
        return codecs.getincrementaldecoder("utf-16-be")(errors="replace"), 2
    if head.startswith(b"<\x00\x00\x00"):
        return codecs.getincrementaldecoder("utf-32-le")(errors="replace"), 0
    if head.startswith(b"\x00\x00\x00<"):
        return codecs.getincrementaldecoder("utf-32-be")(errors="replace"), 0
    if head.startswith(b"<\x00"):
        return codecs.getincrementaldecoder("utf-16-le")(errors="replace"), 0
    if head.startswith(b"\x00<"):
        return codecs.getincrementaldecoder("utf-16-be")(errors="replace"), 0
    skip = 3 if head.startswith(codecs.BOM_UTF8) else 0
    # Latin-1 maps every byte to one character, so the ASCII markup of any
    # ASCII-compatible encoding (UTF-8, Windows-1252, ISO-8859-x) reads true.
    return codecs.getincrementaldecoder("latin-1")(), skip


class _PrologScanner:
    """Incrementally scans the prolog; ``feed`` returns True once the root element starts."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.text = ""
        self.pos = 0
        self.decoder: codecs.IncrementalDecoder | None = None
        self.consumed = 0

    def feed(self, chunk: bytes, final: bool = False) -> bool:
        if self.decoder is None:
            self.decoder, skip = _prolog_decoder(chunk)
            chunk = chunk[skip:]
        self.consumed += len(chunk)
        self.text += self.decoder.decode(chunk, final)
        return self._scan(final)

    def _line(self, index: int) -> int:
        return self.text.count("\n", 0, index) + 1

    def _scan(self, final: bool) -> bool:
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos] in " \t\r\n\ufeff":
                self.pos += 1
            if self.pos >= len(text):
                if final:
                    raise MalformedXmlError(self.source, "no root element: the document is empty")
                return False
            rest = text[self.pos : self.pos + 9]
            if rest.startswith("<?"):
                end = text.find("?>", self.pos + 2)
                if end < 0:
                    return self._need_more(final, "unterminated processing instruction")
                self.pos = end + 2
            elif rest.startswith("<!--"):
                end = text.find("-->", self.pos + 4)
                if end < 0:
                    return self._need_more(final, "unterminated comment")
                self.pos = end + 3
            elif rest.startswith("<!"):
                if len(rest) < 9 and not final:
                    return False
                if rest[2:9].upper() == "DOCTYPE":
                    raise UnsafeXmlError(
                        self.source,
                        "refused: document type declaration (DOCTYPE) found; DTDs and entity "
                        "declarations are not accepted in agency XML",
                        self._line(self.pos),
                    )
                raise MalformedXmlError(self.source, "markup declaration before the root element", self._line(self.pos))
            elif rest.startswith("<"):
                return True
            else:
                raise MalformedXmlError(
                    self.source, "content before the root element (not XML, or an unsupported encoding)",
                    self._line(self.pos),
                )

    def _need_more(self, final: bool, what: str) -> bool:
        if final:
            raise MalformedXmlError(self.source, what, self._line(self.pos))
        return False


def _check_prolog_bytes(data: bytes, source: str) -> None:
    scanner = _PrologScanner(source)
    for start in range(0, max(len(data), 1), _CHUNK):
        if start >= _PROLOG_LIMIT:
            raise UnsafeXmlError(source, f"refused: no root element within the first {_PROLOG_LIMIT} bytes")
        chunk = data[start : start + _CHUNK]
        final = start + _CHUNK >= len(data)
        if scanner.feed(chunk, final):
            return


class _GuardedStream(io.RawIOBase):
    """A read-only byte stream that checks the prolog first and enforces the byte cap while reading."""

    def __init__(self, raw: IO[bytes], source: str, max_bytes: int | None) -> None:
        super().__init__()
        self._raw = raw
        self._source = source
        self._max = max_bytes
        self._seen = 0
        self._prefix = b""
        self._check_prolog()

    def _read_raw(self, size: int) -> bytes:
        data = self._raw.read(size)
        if data is None:  # non-blocking stream with nothing ready
            data = b""
        self._seen += len(data)
        if self._max is not None and self._seen > self._max:
            raise XmlTooLargeError(self._source, self._max)
        return data

    def _check_prolog(self) -> None:
        scanner = _PrologScanner(self._source)
        buffered: list[bytes] = []
        while True:
            chunk = self._read_raw(_CHUNK)
            buffered.append(chunk)
            if scanner.feed(chunk, final=not chunk):
                break
            if self._seen >= _PROLOG_LIMIT:
                raise UnsafeXmlError(self._source, f"refused: no root element within the first {_PROLOG_LIMIT} bytes")
        self._prefix = b"".join(buffered)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if size is None or size < 0:
            size = _CHUNK
        if self._prefix:
            out, self._prefix = self._prefix[:size], self._prefix[size:]
            return out
        return self._read_raw(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# ---------------------------------------------------------------------------
# Public parsing functions


def _syntax_error(exc: etree.XMLSyntaxError, source: str) -> XmlInputError:
    line, column = exc.position if exc.position else (getattr(exc, "lineno", None), None)
    message = (exc.msg or str(exc)).strip()
    # libxml2 appends ", line N, column M"; the position is reported separately.
    message = _POSITION_SUFFIX.sub("", message)
    if "Entity" in message or "entity" in message:
        return UnsafeXmlError(source, f"refused: entity reference not allowed ({message})", line, column)
    return MalformedXmlError(source, f"not well-formed XML: {message}", line, column)


def _refuse_dtd_remnants(root: etree._Element, source: str) -> None:
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXmlError(source, "refused: document type declaration (DOCTYPE) present")
    for node in root.iter(etree.Entity):
        raise UnsafeXmlError(source, "refused: entity reference not allowed", node.sourceline)


def parse_bytes(data: bytes, *, source: str, max_bytes: int, **parser_opts: Any) -> etree._Element:
    """Parse a whole document held in memory; returns the root element.

    ``source`` names the input in errors (a file name, a message id).
    Raises ``XmlTooLargeError`` over ``max_bytes``, ``UnsafeXmlError`` for a
    DOCTYPE or entity, ``MalformedXmlError`` for anything not well-formed.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_bytes needs bytes (text input would bypass the encoding declaration)")
    data = bytes(data)
    if len(data) > max_bytes:
        raise XmlTooLargeError(source, max_bytes, len(data))
    _check_prolog_bytes(data, source)
    parser = safe_parser(**parser_opts)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, source) from None
    _refuse_dtd_remnants(root, source)
    return root


def parse_file(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES, **parser_opts: Any) -> etree._Element:
    """Parse a whole file safely (see ``parse_bytes``); the file is read under the cap, never past it."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise MalformedXmlError(source, "file not found") from None
    except OSError as exc:
        raise MalformedXmlError(source, f"cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise XmlTooLargeError(source, max_bytes)
    return parse_bytes(data, source=source, max_bytes=max_bytes, **parser_opts)


def iterparse_safe(
    path: str | os.PathLike[str] | IO[bytes],
    *,
    tag: str | Sequence[str],
    max_bytes: int | None,
    events: Sequence[str] = ("end",),
    source: str | None = None,
    remove_blank_text: bool = True,
) -> Iterator[tuple[str, etree._Element]]:
    """Stream ``(event, element)`` pairs for elements named ``tag`` with flat memory.

    ``tag`` is a name or several (lxml syntax: ``"Pupil"``, ``"{*}Child"``).
    An element handed out on an ``end`` event is valid until the caller asks
    for the next pair; then it is cleared and removed from its parent along
    with preceding siblings, so memory does not grow with the file. Copy what
    you need (or ``deepcopy`` the element) before moving on.

    ``path`` may also be an open binary file (``source`` then names it in errors).
    Errors are raised when reached: records already yielded stay yielded, so a
    caller can report how far a truncated file got.
    """
    close_after = False
    if isinstance(path, (str, os.PathLike)):
        name = source or os.fspath(path)
        if max_bytes is not None:
            try:
                size = os.path.getsize(path)
            except OSError:
                size = None
            if size is not None and size > max_bytes:
                raise XmlTooLargeError(name, max_bytes, size)
        try:
            raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed in finally below
        except FileNotFoundError:
            raise MalformedXmlError(name, "file not found") from None
        except OSError as exc:
            raise MalformedXmlError(name, f"cannot read: {exc.strerror}") from None
        close_after = True
    else:
        raw = path
        name = source or str(getattr(path, "name", "<stream>"))
    tags = [tag] if isinstance(tag, str) else list(tag)
    try:
        stream = _GuardedStream(raw, name, max_bytes)
        context = etree.iterparse(
            stream,
            events=tuple(events),
            tag=tags,
            remove_blank_text=remove_blank_text,
            **_HARDENED,
        )
        checked = False
        try:
            for event, element in context:
                if not checked:
                    _refuse_dtd_remnants(element.getroottree().getroot(), name)
                    checked = True
                yield event, element
                if event == "end":
                    element.clear(keep_tail=False)
                    parent = element.getparent()
                    if parent is not None:
                        while element.getprevious() is not None:
                            del parent[0]
        except etree.XMLSyntaxError as exc:
            raise _syntax_error(exc, name) from None
    finally:
        if close_after:
            raw.close()
