"""Field inputs that used to crash the JSON readers: each is now an InputError naming the limit and position.

Regression for issue 18: nesting 100,000 deep raised RecursionError and a 5,000-digit number raised
ValueError (int string conversion limit) in mapping/readers.py read_json, connectors/health read_fhir and
connectors/police load_json. All three now go through ``mashlink.mapping.safe_json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mashlink.mapping import default_registry, load_spec, safe_json
from mashlink.mapping.errors import InputError
from mashlink.ops.cli import app

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000
BIG_NUMBER = '{"resourceType": "Patient", "id": "p1", "export": {}, "n": ' + "7" * 5000 + "}"


def _read_json(path: Path) -> list:
    entry = default_registry().get("json")
    return list(entry.reader(path, load_spec(entry.spec_path)))


def _read_fhir(path: Path) -> list:
    from mashlink.connectors.health.formats import read_fhir

    return list(read_fhir(path, None))


def _load_pole(path: Path) -> object:
    from mashlink.connectors.police.reader import load_json

    return load_json(path)


READERS = [_read_json, _read_fhir, _load_pole]


@pytest.mark.parametrize("reader", READERS, ids=["read_json", "read_fhir", "pole_load_json"])
@pytest.mark.parametrize("text,words", [
    (DEEP, "nested too deeply"),
    (DEEP_OBJECT, "nested too deeply"),
    (BIG_NUMBER, "number too long"),
], ids=["deep-array", "deep-object", "5000-digit-number"])
def test_crash_classes_are_input_errors(tmp_path: Path, reader, text: str, words: str) -> None:
    path = tmp_path / "field.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        reader(path)
    message = str(info.value)
    assert words in message and str(path) in message
    assert "line 1 column" in message


def test_too_many_values_names_the_limit() -> None:
    with pytest.raises(InputError, match="too many values: more than 10 .*MASHLINK_JSON_MAX_VALUES"):
        safe_json.loads("[" + ",".join(["{}"] * 11) + "]", "x.json", max_values=10)


def test_too_large_names_the_limit() -> None:
    with pytest.raises(InputError, match="too large: 11 characters, the limit is 10"):
        safe_json.loads('"123456789"', "x.json", max_bytes=10)


def test_within_limits_is_plain_json() -> None:
    text = '{"a": [1, -2.5e3, "x[[[{{", true, null, {"b": "\\"]"}], "n": ' + "9" * 100 + "}"
    assert safe_json.loads(text, "x.json")["a"][5] == {"b": '"]'}
    nested = "[" * safe_json.MAX_DEPTH + "]" * safe_json.MAX_DEPTH
    assert safe_json.loads(nested, "x.json") is not None


def test_unterminated_string_is_a_syntax_error_in_linear_time() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        safe_json.loads('"' + '\\"' * 200_000, "x.json")


def test_translate_cli_reports_deep_json_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(DEEP, encoding="utf-8")
    result = CliRunner().invoke(app, ["translate", "json", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "nested too deeply" in result.stderr


# --- the screen in front of the exact scan (issue 17: the per-token loop cost 6x the parse) ---------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet='ab"\\[]{}: ,é1', max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(alphabet='k"\\[', max_size=3), inner,
                                                                 max_size=4),
    max_leaves=30)


def _verdict(fn, *args) -> str | None:
    try:
        fn(*args)
    except InputError as exc:
        return str(exc)
    return None


@settings(max_examples=300, deadline=None)
@given(value=_JSON_VALUES, ascii_only=st.booleans(), max_depth=st.integers(1, 6), max_values=st.integers(1, 40))
def test_screen_gives_the_exact_scans_verdict_on_json(value, ascii_only: bool, max_depth: int,
                                                       max_values: int) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    exact = _verdict(safe_json._scan, text, "x.json", max_depth, max_values)
    assert safe_json._within_limits(text, max_depth, max_values) == (exact is None)
    assert _verdict(lambda: safe_json.check(text, "x.json", max_depth=max_depth, max_values=max_values)) == exact


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='[]{}",:\\ 019-.eEtrufalsnS\n', max_size=40), max_depth=st.integers(1, 4),
       max_values=st.integers(1, 12))
def test_screen_passes_only_what_the_scan_passes_or_json_refuses(text: str, max_depth: int, max_values: int) -> None:
    """On text that is not JSON the screen may differ from the scan only where ``json.loads`` refuses anyway."""
    if not safe_json._within_limits(text, max_depth, max_values):
        return
    if _verdict(safe_json._scan, text, "x.json", max_depth, max_values) is not None:
        with pytest.raises(InputError, match="not valid JSON"):
            safe_json.loads(text, "x.json", max_depth=max_depth, max_values=max_values)


def test_screen_is_linear_on_many_unterminated_quotes() -> None:
    """An escaped quote sends the screen to its regex, which must not rescan from every quote."""
    text = '"' + '\\"' * 200_000 + "\\"
    assert safe_json._within_limits(text, 64, 1_000_000)
    with pytest.raises(InputError, match="not valid JSON"):
        safe_json.loads(text, "x.json")
