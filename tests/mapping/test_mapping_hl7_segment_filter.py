"""HL7 v2 segment selection ``SEG[FIELD=V1|V2]`` / ``SEG[FIELD!=V1|V2]`` (issue 18: visits of other classes)."""

from __future__ import annotations

import pytest

from mashlink.mapping.errors import PathSyntaxError
from mashlink.mapping.paths.hl7 import compile_hl7_path, split_message

MESSAGE = split_message("MSH|^~\\&|PAS|RXX|MASH|999|20240101||ADT^A01|M1|P|2.4\r"
                        "PV1|1|O|CLINIC\rPV1|2| e |ED\rPV1|3|I|WARD\rPV1|4")


def test_segments_by_a_field_value_trimmed_and_in_any_case() -> None:
    chosen = compile_hl7_path("PV1[2=E|I]").all(MESSAGE)
    assert [s.fields[1][0][0][0] for s in chosen] == ["2", "3"]
    others = compile_hl7_path("PV1[2!=E|I]").all(MESSAGE)
    assert [s.fields[1][0][0][0] for s in others] == ["1", "4"]      # PV1-2 empty or absent counts as other
    assert compile_hl7_path("PV1[2=E|I]-3.1").all(MESSAGE) == ["ED", "WARD"]


def test_a_bad_selector_is_a_path_syntax_error() -> None:
    with pytest.raises(PathSyntaxError):
        compile_hl7_path("PV1[X=E]")


def test_general_parser_decodes_escapes_as_the_fast_parser_does() -> None:
    """Found by the fuzzing suite's HL7 differential: \\Xhh\\ and \\.br\\ were left literal by split_message."""
    from mashlink.mapping.paths.hl7_er7 import FastMessage

    text = ("MSH|^~\\&|PAS|RXX|MASH|999|20240101||ADT^A01|M1|P|2.4\r"
            "NK1|1\\X0D\\|TESTERSON^JO\\.br\\X|MTH\\H\\!\\N\\\rPID|1||A\\S\\B\\E\\C\\Q\\")
    general = split_message(text)
    fast = FastMessage.parse(text).to_path_message()
    assert [s.fields for s in general.segments] == [s.fields for s in fast.segments]
    nk1 = general.by_name("NK1")[0]
    assert nk1.fields[1][0][0][0] == "1\r" and nk1.fields[2][0][1][0] == "JO\nX"
    assert general.by_name("PID")[0].fields[3][0][0][0] == "A^B\\C\\Q\\"   # unknown escape kept literally
