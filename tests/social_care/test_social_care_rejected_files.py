"""Social care's drop folder parks unusable extracts the shared way: a structured, durable reason, then the move."""

from __future__ import annotations

from pathlib import Path

from mashlink.connectors.files import DropFolder, read_reason
from mashlink.connectors.social_care.index import SocialCareIndex
from mashlink.connectors.social_care.wiring import InboxIngest
from tests.social_care.sc_fixtures import BAD_CHILD, BORN_CHILD, cin_file


def test_the_inbox_parks_unusable_extracts_with_a_reason_and_a_fixed_one_can_be_replayed(tmp_path: Path) -> None:
    inbox, state = tmp_path / "sftp" / "cin", tmp_path / "state"
    inbox.mkdir(parents=True)
    (inbox / "notes.xml").write_text("<Notes/>", encoding="utf-8")
    (inbox / "broken.xml").write_text(cin_file(BAD_CHILD), encoding="utf-8")
    (inbox / "upload.xml.partial").write_text("<Mess", encoding="utf-8")  # still arriving: left alone
    index = SocialCareIndex(state, la_code="999")
    ingest = InboxIngest(index, inbox, settle_s=0)
    ingest.run_once()

    rejected = state / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == [
        "broken.xml", "broken.xml.reason.txt", "notes.xml", "notes.xml.reason.txt"]
    assert [p.name for p in inbox.iterdir()] == ["upload.xml.partial"]
    notes = read_reason(rejected / "notes.xml.reason.txt")
    assert (notes["file"], notes["rule"]) == ("notes.xml", "format_not_recognised") and "failed_at" in notes
    broken = read_reason(rejected / "broken.xml.reason.txt")
    assert broken["rule"] == "no_usable_record" and "Secretname" not in (rejected / "broken.xml.reason.txt").read_text()

    # Ops fix the extract and replay it (mashlink dropfolder replay): it loads on the next pass.
    folder = DropFolder(state, inbox_dir=inbox, failed_name="rejected")
    assert [p.name for p in folder.parked()] == ["broken.xml", "notes.xml"]
    replayed = folder.replay("broken.xml")
    replayed.write_text(cin_file(BORN_CHILD), encoding="utf-8")
    (inbox / "upload.xml.partial").unlink()
    [result] = ingest.run_once()
    assert result.accepted == 1 and index.count() == 1
    assert [p.name for p in (state / "processed").iterdir()] == ["broken.xml"]
    assert not (rejected / "broken.xml.reason.txt").exists()
