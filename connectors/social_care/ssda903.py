"""SSDA903 (looked-after children) as XML or as the CSV set, one child per record.

The CSV set is several files of one return (``header``, ``episodes``,
``missing``, ``reviews``...), each keyed by ``CHILD``. The reader recognises
each file by its columns (not its name), joins the rows on ``CHILD`` and
builds, per child, the same element tree the XML form gives::

    Child / CHILD SEX DOB ETHNIC UPN MOTHER MC_DOB
          / Episodes/Episode (DECOM RNE LS CIN PLACE PLACE_PROVIDER DEC REC ...)
          / MissingEpisodes/MissingEpisode (MISSING MIS_START MIS_END)
          / Reviews/Review (REVIEW REVIEW_CODE)

so one mapping spec (``config/mappings/ssda903.yaml``) serves both forms.
LA systems also export the XML in the DfE ``EXPSSDA903`` layout::

    EXPSSDA903 / CHILD / HEADER  (CHILDID SEX DOB ETHNIC UPN MOTHER MC_DOB UASC ...
                                  AREVIEW/(REVIEW REVIEW_CODE))
                       / EPISODE (DECOM RNE LS CIN PL PLACE_PROVIDER DEC REC ...)
                       / MISSING (MISSING MIS_START MIS_END)

which is rebuilt into the same ``Child`` tree (``CHILDID`` -> ``CHILD``,
``PL`` -> ``PLACE``). A file that yields no child says what was expected
and what was found, never a silent "0 accepted, 0 rejected".
Dates stay as written (``dd/mm/yyyy``, sometimes ``dd/mm/yy``); the spec
parses them. SSDA903 files carry no LA code: pass ``la_code`` (CLI ``--la``),
otherwise LA child ids are scoped to ``unknown-la`` and flagged.

A malformed row is reported, never fatal: a bad header row rejects that
child; a bad episode/missing/review row is flagged on its child; rows for a
child with no header row are rejected, named by the child id. A column whose
name cannot be an XML element name is ignored with a warning (no spec path
could name it); characters XML cannot carry (control characters) are removed
from values and flagged on the child.
"""

from __future__ import annotations

import copy
import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from .annotate import (
    add_issue,
    attach_context,
    flag_stray_text,
    flag_upn,
    strip_namespaces,
)
from .cin import DEFAULT_STREAM_MAX_BYTES, la_header, localname, nothing_found
from ..xml_safety import XmlInputError, iterparse_safe
from ...mapping.errors import InputError, Position
from ...mapping.readers import RowProblem

#: Table kind -> (container, item) element names in the joined tree.
CHILD_TABLES: dict[str, tuple[str, str]] = {
    "episodes": ("Episodes", "Episode"),
    "missing": ("MissingEpisodes", "MissingEpisode"),
    "reviews": ("Reviews", "Review"),
}

#: Spellings of container/item elements accepted in SSDA903 XML -> the names the spec uses.
_XML_RENAMES = {
    "EPISODES": "Episodes", "EPISODE": "Episode",
    "MISSINGEPISODES": "MissingEpisodes", "MISSING_EPISODES": "MissingEpisodes", "MISSINGS": "MissingEpisodes",
    "MISSINGEPISODE": "MissingEpisode", "MISSING_EPISODE": "MissingEpisode",
    "REVIEWS": "Reviews", "REVIEW_": "Review",
}


def classify_columns(columns: Iterable[str]) -> str | None:
    """Which SSDA903 table a CSV header belongs to (None: a table this connector does not use)."""
    cols = {c.strip().upper() for c in columns}
    if "CHILD" not in cols:
        return None
    if "DECOM" in cols:
        return "episodes"
    if "MIS_START" in cols:
        return "missing"
    if "REVIEW" in cols:
        return "reviews"
    if "SEX" in cols and "DOB" in cols and "ETHNIC" in cols:
        return "header"
    return None


def _open_csv(path: Path) -> tuple[list[str], csv.reader]:  # type: ignore[valid-type]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(str(path), "file not found") from None
    except UnicodeDecodeError:
        try:
            text = path.read_text(encoding="cp1252")
        except UnicodeDecodeError as exc:
            raise InputError(str(path), f"not valid UTF-8 or Windows-1252 text (byte offset {exc.start})") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().upper() for h in next(reader)]
    except StopIteration:
        raise InputError(str(path), "empty file: no header row") from None
    except csv.Error as exc:
        raise InputError(str(path), f"bad CSV header: {exc}", 1) from None
    return header, reader


class Ssda903Reader:
    """``Reader`` for the ``ssda903`` format.

    Called per file (``Reader`` protocol) it reads SSDA903 XML; CSV files must
    be read as a set with :meth:`read_set` (they only make sense joined).
    """

    def __init__(self, *, la_code: str | None = None, max_bytes: int | None = DEFAULT_STREAM_MAX_BYTES) -> None:
        self.la_code = la_code
        self.max_bytes = max_bytes

    # -- the Reader protocol: one file ---------------------------------------------------
    def __call__(self, path: Path, mapping: Any = None, warn: Any = None) -> Iterator[tuple[Any, Position]]:
        path = Path(path)
        if _looks_like_xml(path):
            yield from self.read_xml(path, warn)
            return
        yield from self.read_set([path], mapping, warn)

    # -- several files of one return -----------------------------------------------------
    def read_set(self, paths: Sequence[Path], mapping: Any = None, warn: Any = None
                 ) -> Iterator[tuple[Any, Position]]:
        """XML files are read one by one; CSV files are joined on CHILD into one set."""
        csv_paths: list[Path] = []
        for p in map(Path, paths):
            if _looks_like_xml(p):
                yield from self.read_xml(p, warn)
            else:
                csv_paths.append(p)
        if csv_paths:
            yield from self._read_csv_set(csv_paths, warn)

    def read_xml(self, path: Path, warn: Any = None) -> Iterator[tuple[Any, Position]]:
        name = str(path)
        try:
            root = _root_name(path, self.max_bytes, name)
            if root is not None and root.upper() == "EXPSSDA903":
                yield from self._read_expssda903(path, name)
                return
            header: etree._Element | None = None
            number = 0
            for _event, element in iterparse_safe(path, tag=("{*}Header", "{*}Child"), max_bytes=self.max_bytes,
                                                  source=name):
                strip_namespaces(element)
                if element.tag == "Header":
                    header = _copy(element)
                    continue
                number += 1
                for el in element.iter(etree.Element):
                    renamed = _XML_RENAMES.get(str(el.tag).upper())
                    if renamed and (len(el) or renamed.endswith("s")):
                        el.tag = renamed
                yield self._finish(element, header), Position(name, number, line=element.sourceline,
                                                              path=f"Child[{number}]")
            if number == 0:
                raise InputError(name, nothing_found(path, self.max_bytes, name, "SSDA903 XML: Child elements "
                                                      "(Children/Child) or the EXPSSDA903/CHILD layout"))
        except XmlInputError as exc:
            raise InputError(name, exc.reason, exc.line, exc.column) from None

    def _read_expssda903(self, path: Path, name: str) -> Iterator[tuple[Any, Position]]:
        """The LA export layout: ``EXPSSDA903/CHILD`` with ``HEADER``, ``EPISODE``... per child."""
        number = 0
        record: etree._Element | None = None
        # A leaf CHILD (an id written as CHILD instead of CHILDID) is an 'end' for the streaming parser,
        # which clears it and its preceding siblings: keep copies and put them back at the record's end.
        stash: list[tuple[etree._Element, etree._Element, list[etree._Element]]] = []
        for event, element in iterparse_safe(path, tag="{*}CHILD", events=("start", "end"),
                                             max_bytes=self.max_bytes, source=name):
            parent = element.getparent()
            if event == "start":
                if record is None and parent is not None and parent.getparent() is None:
                    record = element
                continue
            if element is not record:
                if parent is not None:
                    kept = [copy.deepcopy(x) for x in parent[: parent.index(element) + 1]]
                    stash.append((parent, element, kept))
                continue
            for holder, leaf, kept in stash:
                if leaf.getparent() is holder:
                    holder.remove(leaf)
                for i, el in enumerate(kept):
                    holder.insert(i, el)
            stash.clear()
            record = None
            number += 1
            strip_namespaces(element)
            child = _from_expssda903(element)
            yield self._finish(child, None), Position(name, number, line=element.sourceline,
                                                      path=f"EXPSSDA903/CHILD[{number}]")
        if number == 0:
            raise InputError(name, nothing_found(path, self.max_bytes, name,
                                                  "EXPSSDA903 with CHILD elements (HEADER, EPISODE)"))

    def _finish(self, child: etree._Element, header: etree._Element | None) -> etree._Element:
        lea = header.findtext("Source/LEA") if header is not None else None
        if (lea is None or not lea.strip()) and self.la_code:
            header, lea = la_header(self.la_code), self.la_code
        flag_stray_text(child)
        if lea is None or not lea.strip():
            add_issue(child, "source.organisation", "la_code_missing",
                      "no LA code (SSDA903 files carry none: pass --la): the LA child id cannot be scoped")
        flag_upn(child, child.findtext("UPN"))
        attach_context(child, header)
        return child

    def _read_csv_set(self, paths: list[Path], warn: Any) -> Iterator[tuple[Any, Position]]:
        headers: list[tuple[Path, int, dict[str, str] | str]] = []
        by_child: dict[str, dict[str, list[tuple[Path, int, dict[str, str]]]]] = {}
        bad: dict[str, list[str]] = {}
        problems: list[tuple[Path, int, str, str | None]] = []
        seen_header_file = False
        dirty: dict[tuple[Path, int], list[str]] = {}  # (file, line) -> columns that lost characters XML cannot carry
        for path in paths:
            columns, reader = _open_csv(path)
            kind = classify_columns(columns)
            if kind is None:
                if warn is not None:
                    warn(f"{path}: not an SSDA903 table this connector reads (columns do not match header, "
                         "episodes, missing or reviews); ignored")
                continue
            seen_header_file = seen_header_file or kind == "header"
            width = len(columns)
            unnamable = [c for c in columns if c and not _xml_name_ok(c)]
            if unnamable and warn is not None:
                shown = ", ".join(ascii(c)[1:-1][:40] for c in unnamable[:5])
                warn(f"{path}: column name(s) {shown} cannot be named by the mapping (not valid XML names); "
                     "their values are ignored")
            usable = [(i, c) for i, c in enumerate(columns) if _xml_name_ok(c)]
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    raise InputError(str(path), f"bad CSV: {exc}", reader.line_num) from None
                if not row or all(not c.strip() for c in row):
                    continue
                line = reader.line_num
                values = {}
                for i, c in usable:
                    values[c], removed = _xml_text(row[i].strip() if i < len(row) else "")
                    if removed:
                        dirty.setdefault((path, line), []).append(c)
                child_id = values.get("CHILD", "")
                if len(row) != width:
                    message = f"row has {len(row)} fields, the header has {width}"
                    if kind == "header":
                        headers.append((path, line, message))
                    elif child_id:
                        bad.setdefault(child_id, []).append(f"{path.name} line {line}: {message}")
                    else:
                        problems.append((path, line, message, None))
                    continue
                if not child_id:
                    problems.append((path, line, "CHILD is empty: the row cannot be joined to a child", None))
                    continue
                if kind == "header":
                    headers.append((path, line, values))
                else:
                    by_child.setdefault(child_id, {}).setdefault(kind, []).append((path, line, values))
        if not seen_header_file:
            raise InputError(", ".join(str(p) for p in paths),
                             "no SSDA903 header table (CHILD, SEX, DOB, ETHNIC...) among the files: "
                             "episodes cannot be joined to children (give all CSV files of the set together)")
        if not headers and not by_child and not bad and not problems:
            raise InputError(", ".join(str(p) for p in paths),
                             "no child records: expected rows of children in the SSDA903 header table (CHILD, SEX, "
                             "DOB, ETHNIC...); found only header rows")
        header_el = la_header(self.la_code) if self.la_code else None
        number = 0
        for path, line, values in headers:
            number += 1
            if isinstance(values, str):
                yield RowProblem(values), Position(str(path), number, line=line)
                continue
            child_id = values["CHILD"]
            child = etree.Element("Child")
            for col, val in values.items():
                if val:
                    etree.SubElement(child, col).text = val
            removed_in = [(path, line, dirty.get((path, line), []))]
            for kind, rows in by_child.pop(child_id, {}).items():
                container_name, item_name = CHILD_TABLES[kind]
                container = etree.SubElement(child, container_name)
                rows.sort(key=lambda r: _sort_key(r[2]))
                for rpath, rline, rvalues in rows:
                    item = etree.SubElement(container, item_name, file=_xml_text(rpath.name)[0], line=str(rline))
                    for col, val in rvalues.items():
                        if val and col != "CHILD":
                            etree.SubElement(item, col).text = val
                    removed_in.append((rpath, rline, dirty.get((rpath, rline), [])))
            for rpath, rline, cols in removed_in:
                for col in cols:
                    add_issue(child, col, "control_characters",
                              f"{rpath.name} line {rline}: characters XML cannot carry (control characters) "
                              "were removed from this value")
            for message in bad.pop(child_id, []):
                add_issue(child, "record", "csv_row", message)
            yield self._finish(child, header_el), Position(str(path), number, line=line)
        for child_id, tables in by_child.items():
            for kind, rows in tables.items():
                rpath, rline, _ = rows[0]
                number += 1
                yield (RowProblem(f"{len(rows)} {kind} row(s) for a child with no header row (CHILD)"),
                       Position(str(rpath), number, line=rline, record_id=child_id))
        for child_id, messages in bad.items():
            number += 1
            yield (RowProblem(f"malformed row(s) for a child with no header row: {'; '.join(messages)}"),
                   Position(paths[0].name, number, record_id=child_id))
        for path, line, message, _ in problems:
            number += 1
            yield RowProblem(message), Position(str(path), number, line=line)


def _root_name(path: Path, max_bytes: int | None, name: str) -> str | None:
    """The document element's local name (None for an empty document; parse errors are raised)."""
    events = iterparse_safe(path, tag="{*}*", events=("start",), max_bytes=max_bytes, source=name)
    try:
        for _event, element in events:
            return localname(element.tag)
    finally:
        events.close()
    return None


#: EXPSSDA903 element names -> the names of the joined tree (the spec's names).
_EXP_ITEMS = {"EPISODE": ("Episodes", "Episode"), "AREVIEW": ("Reviews", "Review"), "REVIEW": ("Reviews", "Review"),
              "MISSING": ("MissingEpisodes", "MissingEpisode")}
_EXP_FIELD_RENAMES = {"PL": "PLACE"}


def _from_expssda903(record: etree._Element) -> etree._Element:
    """One ``EXPSSDA903/CHILD`` rebuilt as the ``Child`` tree the spec reads."""
    child = etree.Element("Child")
    containers: dict[str, etree._Element] = {}

    def add(el: etree._Element) -> None:
        tag = str(el.tag).upper()
        if len(el) and tag in _EXP_ITEMS:
            container_name, item_name = _EXP_ITEMS[tag]
            container = containers.get(container_name)
            if container is None:
                container = containers[container_name] = etree.SubElement(child, container_name)
            item = copy.deepcopy(el)
            item.tag = item_name
            if el.sourceline is not None:
                item.set("line", str(el.sourceline))
            for field in item:
                renamed = _EXP_FIELD_RENAMES.get(str(field.tag).upper())
                if renamed and item.find(renamed) is None:
                    field.tag = renamed
            container.append(item)
        elif tag in ("CHILDID", "CHILD") and child.find("CHILD") is None:
            ident = copy.deepcopy(el)   # with any child elements: the mapping reports that structure by path
            ident.tag = "CHILD"
            ident.tail = None
            child.append(ident)
        else:
            child.append(copy.deepcopy(el))

    for part in record:
        if not isinstance(part.tag, str):
            continue
        if str(part.tag).upper() == "HEADER" and len(part):
            for el in part:
                if isinstance(el.tag, str):
                    add(el)
        else:
            add(part)
    return child


#: Characters XML 1.0 cannot carry (C0 controls other than tab, LF, CR; surrogates; U+FFFE/U+FFFF).
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: str) -> tuple[str, bool]:
    """``value`` without characters XML cannot carry, and whether any were removed."""
    cleaned = _NOT_XML_CHARS.sub("", value)
    return cleaned, cleaned != value


def _xml_name_ok(name: str) -> bool:
    """True when ``name`` can be an (unprefixed) XML element name, so a spec path can name it."""
    if not name or ":" in name:
        return False
    try:
        etree.Element(name)
    except ValueError:
        return False
    return True


def _sort_key(values: dict[str, str]) -> tuple[str, str]:
    """Order a child's rows by their start date (dd/mm/yyyy -> yyyymmdd; unparsable last)."""
    for col in ("DECOM", "MIS_START", "REVIEW"):
        raw = values.get(col, "")
        parts = raw.split("/")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            year = parts[2] if len(parts[2]) == 4 else ("20" + parts[2].zfill(2))
            return (f"{year}{parts[1].zfill(2)}{parts[0].zfill(2)}", raw)
        if raw:
            return (raw, raw)
    return ("~", "")


def _copy(element: etree._Element) -> etree._Element:
    import copy

    return copy.deepcopy(element)


def _looks_like_xml(path: Path) -> bool:
    if path.suffix.lower() == ".xml":
        return True
    if path.suffix.lower() == ".csv":
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False
    return head.startswith(b"<")
