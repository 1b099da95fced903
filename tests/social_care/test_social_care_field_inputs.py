"""Issue 18, inputs as they come from the field: children's social care.

Inconsistent native data is kept and flagged (never the whole child rejected);
LA exports of SSDA903 in the EXPSSDA903 layout are read; a file that yields no
record says what was expected and what was found; odd CSV headers and control
characters never crash the reader; no canonical value is ever an element repr.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mashlink.ops.cli import app
from tests.social_care.sc_fixtures import BORN_CHILD, INCONSISTENT_CHILD, cin_file

runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"


def _run(*args: str):
    return runner.invoke(app, list(args))


def _records(stdout: str) -> dict[str, dict]:
    return {r["source"]["record_id"]: r for r in json.loads(stdout)}


def _by_category(record: dict, category: str) -> list[dict]:
    return [f for f in record["findings"] if f["category"] == category]


# --- keep and flag ------------------------------------------------------------------------------


def test_cin_closure_before_referral_is_kept_with_a_data_quality_issue(tmp_path: Path) -> None:
    path = tmp_path / "cin.xml"
    path.write_text(cin_file("\n".join([INCONSISTENT_CHILD, BORN_CHILD])), encoding="utf-8")
    result = _run("translate", "cin", str(path))
    assert result.exit_code == 0, result.stderr
    assert "2 record(s) accepted, 0 rejected" in result.stderr
    child = _records(result.stdout)["LA0005"]
    referral = _by_category(child, "social_care.referral")[0]
    assert referral["start"] == "2023-03-01"                     # the referral stands
    assert referral["end"] is None                               # the contradicted closure is left out ...
    assert referral["attributes"]["end_as_reported"] == "2023-02-01"   # ... but kept as reported
    assert referral["attributes"]["closure_reason"] == "RC8"
    plan = _by_category(child, "social_care.child_protection_plan")[0]
    assert plan["start"] == "2023-05-01" and plan["end"] is None
    issues = {(i["field"], i["rule"]): i["detail"] for i in child["issues"]}
    i_ref = child["findings"].index(referral)
    detail = issues[(f"findings[{i_ref}].end", "finding_order")]
    assert f"findings[{i_ref}].start" in detail and "kept and flagged" in detail
    assert "2023-02-01" not in detail                            # positions, never values
    i_plan = child["findings"].index(plan)
    assert (f"findings[{i_plan}].end", "finding_order") in issues
