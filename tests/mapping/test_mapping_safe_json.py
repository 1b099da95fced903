"""Field inputs that used to crash the JSON readers: each is now an InputError naming the limit and position.

Regression for issue 18: nesting 100,000 deep raised RecursionError and a 5,000-digit number raised
ValueError (int string conversion limit) in mapping/readers.py read_json, connectors/health read_fhir and
connectors/police load_json. All three now go through ``mashlink.mapping.safe_json``.
"""

from __future__ import annotations

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
