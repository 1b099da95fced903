"""Hardened XML parsing: XXE, entity expansion, external DTDs, size caps, flat memory."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mashlink.connectors.xml_safety import (
    MalformedXmlError,
    UnsafeXmlError,
    XmlTooLargeError,
    iterparse_safe,
    parse_bytes,
    parse_file,
    safe_parser,
)
from mashlink.ops.cli import app

SECRET_FILE_TEXT = "mashlink-local-secret-7f3a9c"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A local file an XXE payload tries to read; its text must never appear anywhere."""
    path = tmp_path / "secret.txt"
    path.write_text(SECRET_FILE_TEXT)
    return path


def xxe_document(target: Path, root: str = "CTfile") -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE {root} [\n  <!ENTITY leak SYSTEM "file://{target}">\n]>\n'
        f"<{root}><CTFpupilData><Pupil><UPN>&leak;</UPN><Surname>&leak;</Surname></Pupil></CTFpupilData></{root}>"
    ).encode()


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>"
)


def test_external_entity_is_refused_and_nothing_leaks(secret_file: Path) -> None:
    with pytest.raises(UnsafeXmlError) as caught:
        parse_bytes(xxe_document(secret_file), source="upload.xml", max_bytes=1_000_000)
    message = str(caught.value)
    assert message.startswith("upload.xml, line 2:")
    assert "DOCTYPE" in message
    assert SECRET_FILE_TEXT not in message
    assert str(secret_file) not in message  # the declaration is never echoed
    assert isinstance(caught.value, ValueError)


def test_external_entity_refused_when_streaming_a_file(tmp_path: Path, secret_file: Path) -> None:
    path = tmp_path / "xxe.xml"
    path.write_bytes(xxe_document(secret_file))
    seen = []
    with pytest.raises(UnsafeXmlError) as caught:
        for _event, element in iterparse_safe(path, tag="Pupil", max_bytes=None):
            seen.append(element)
    assert not seen
    assert caught.value.source == str(path) and caught.value.line == 2
    assert SECRET_FILE_TEXT not in str(caught.value)


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(UnsafeXmlError, match="DOCTYPE"):
        parse_bytes(BILLION_LAUGHS, source="lol.xml", max_bytes=1_000_000)
    with pytest.raises(UnsafeXmlError, match="DOCTYPE"):
        list(iterparse_safe(io.BytesIO(BILLION_LAUGHS), tag="lolz", max_bytes=None, source="lol.xml"))


@pytest.mark.parametrize("doctype", [
    b"<!DOCTYPE CTfile>",
    b"<!doctype CTfile>",
    b'<!DOCTYPE CTfile SYSTEM "ctf.dtd">',
    b'<!-- a comment first -->\n<?pi x?>\n<!DOCTYPE CTfile [<!ENTITY % p SYSTEM "x">%p;]>',
])
def test_any_doctype_is_refused(doctype: bytes) -> None:
    with pytest.raises(UnsafeXmlError):
        parse_bytes(b'<?xml version="1.0"?>\n' + doctype + b"\n<CTfile/>", source="d.xml", max_bytes=10_000)


def test_doctype_in_utf16_is_refused() -> None:
    data = '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE r [<!ENTITY x "y">]>\n<r>&x;</r>'.encode("utf-16")
    with pytest.raises(UnsafeXmlError, match="DOCTYPE"):
        parse_bytes(data, source="u16.xml", max_bytes=10_000)
    ok = '<?xml version="1.0" encoding="UTF-16"?>\n<r>fine</r>'.encode("utf-16")
    assert parse_bytes(ok, source="u16.xml", max_bytes=10_000).text == "fine"


def test_external_dtd_never_touches_the_network() -> None:
    """A DTD URL pointing at a live local listener: refused, and no connection is ever made."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        doc = (f'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/evil.dtd">\n'
               f'<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="http://127.0.0.1:{port}/x"/></r>')
        with pytest.raises(UnsafeXmlError):
            parse_bytes(doc.encode(), source="net.xml", max_bytes=10_000)
        # Without the DOCTYPE the XInclude element is just an element: never processed.
        root = parse_bytes(doc.split("\n", 2)[0].encode() + b"\n" + doc.split("\n", 2)[2].encode(),
                           source="net.xml", max_bytes=10_000)
        assert len(root) == 1
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


def test_undeclared_entity_reference_is_refused() -> None:
    with pytest.raises(UnsafeXmlError) as caught:
        parse_bytes(b"<r>\n<a>&secret;</a></r>", source="e.xml", max_bytes=1000)
    assert caught.value.line == 2


def test_oversize_input_is_refused(tmp_path: Path) -> None:
    big = b"<r>" + b"<a>1</a>" * 1000 + b"</r>"
    with pytest.raises(XmlTooLargeError):
        parse_bytes(big, source="big.xml", max_bytes=1000)
    path = tmp_path / "big.xml"
    path.write_bytes(big)
    with pytest.raises(XmlTooLargeError):
        parse_file(path, max_bytes=1000)
    with pytest.raises(XmlTooLargeError):
        list(iterparse_safe(path, tag="a", max_bytes=1000))
    # A stream of unknown size is cut off while reading, after the records within the cap.
    huge = b"<r>" + b"<a>1</a>" * 100_000 + b"</r>"
    got = []
    with pytest.raises(XmlTooLargeError):
        for _event, element in iterparse_safe(io.BytesIO(huge), tag="a", max_bytes=300_000, source="stream"):
            got.append(element.text)
    assert 0 < len(got) < 100_000


def test_malformed_input_names_file_and_line() -> None:
    with pytest.raises(MalformedXmlError) as caught:
        parse_bytes(b"<r>\n<a>1</a>\n<b>2</c>\n</r>", source="bad.xml", max_bytes=1000)
    assert caught.value.line == 3 and "bad.xml, line 3" in str(caught.value)
    with pytest.raises(MalformedXmlError, match="empty"):
        parse_bytes(b"   ", source="empty.xml", max_bytes=1000)
    with pytest.raises(MalformedXmlError, match="before the root"):
        parse_bytes(b"hello <r/>", source="text.xml", max_bytes=1000)


def test_safe_parser_refuses_unsafe_options() -> None:
    for option in ({"resolve_entities": True}, {"no_network": False}, {"load_dtd": True}, {"huge_tree": True},
                   {"recover": True}):
        with pytest.raises(ValueError):
            safe_parser(**option)
    parser = safe_parser(remove_blank_text=True)
    assert parser is not None


def test_streaming_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "many.xml"
    path.write_bytes(b"<CTfile><Header><X>1</X></Header><CTFpupilData>"
                     + b"".join(b"<Pupil><UPN>%d</UPN></Pupil>" % i for i in range(2000))
                     + b"</CTFpupilData></CTfile>")
    kept_before = 0
    count = 0
    for _event, pupil in iterparse_safe(path, tag="Pupil", max_bytes=None):
        count += 1
        # Elements parsed ahead may follow (bounded by the read chunk); none that were handed out remain.
        before = list(pupil.itersiblings(preceding=True))
        kept_before = max(kept_before, len(before))
        assert all(len(p) == 0 and p.text is None for p in before)  # at most the last one, already cleared
        assert pupil.getroottree().getroot().find("Header/X").text == "1"  # the header stays available
    assert count == 2000
    assert kept_before <= 1  # earlier pupils were removed, not kept


def test_translate_ctf_refuses_xxe_without_leaking(tmp_path: Path, secret_file: Path) -> None:
    path = tmp_path / "xxe-ctf.xml"
    path.write_bytes(xxe_document(secret_file))
    result = CliRunner().invoke(app, ["translate", "ctf", str(path)])
    assert result.exit_code == 1
    assert SECRET_FILE_TEXT not in result.stdout and SECRET_FILE_TEXT not in result.stderr
    assert str(path) in result.stderr and "DOCTYPE" in result.stderr
