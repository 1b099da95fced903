"""A missing, broken or half-written export never wipes a ``records`` channel's index.

Why: the export is re-read whenever it changes. Before, whatever the read
returned replaced the index, so a nightly export that failed (file deleted,
truncated to its header, garbled) turned every enquiry into ``not_known``
until the next good export. Now an unusable read keeps the old index and is
retried on the next poll, and only settled, complete files are read.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from mashlink.connectors.declared_channel import DeclaredChannel
from mashlink.schemas.codes import ResponseStatus

from .test_yaml_only_agency import DATA, ada, build, enquiry, housing_config, settings_for


def _channel(tmp_path: Path, **options: object) -> DeclaredChannel:
    channel = build(settings_for(housing_config(tmp_path, settle_s=0, **options), tmp_path)).connector
    assert isinstance(channel, DeclaredChannel) and len(channel.index) == 4
    return channel


def _finds_ada(channel: DeclaredChannel) -> bool:
    (answer,) = channel.handle(enquiry(ada()))
    return answer.status is ResponseStatus.INFORMATION_FOUND


def _settle(path: Path, seconds: float = 60) -> None:
    """Make ``path`` look written ``seconds`` ago (its fingerprint changes; no waiting in tests)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_deleted_export_keeps_the_old_index_and_is_retried(tmp_path: Path) -> None:
    channel = _channel(tmp_path)
    export = channel.source.path
    export.unlink()
    report = channel.reload()
    assert report.kept_previous and not report.reloaded and report.files == 0
    assert _finds_ada(channel)
    shutil.copy(DATA / "tenancies.csv", export)  # the next export arrives: read on the next poll
    assert channel.reload().reloaded and _finds_ada(channel)


def test_an_export_truncated_to_its_header_or_to_nothing_keeps_the_old_index(tmp_path: Path) -> None:
    channel = _channel(tmp_path)
    export = channel.source.path
    header = export.read_text(encoding="utf-8").splitlines()[0]
    for content in (header + "\n", ""):
        export.write_text(content, encoding="utf-8")
        _settle(export)
        report = channel.reload()
        assert report.kept_previous and report.accepted == 0, content
        assert _finds_ada(channel)


def test_a_garbled_export_keeps_the_old_index_and_names_no_content(tmp_path: Path) -> None:
    channel = _channel(tmp_path)
    export = channel.source.path
    export.write_bytes(b"\xff\xfe\x00garbled\x00\x81\x82 Synthwell\n" * 20)
    _settle(export)
    report = channel.reload()
    assert report.kept_previous and report.accepted == 0
    assert not any("Synthwell" in p for p in report.problems)
    assert _finds_ada(channel)


def test_a_good_new_export_replaces_the_old_one(tmp_path: Path) -> None:
    channel = _channel(tmp_path)
    export = channel.source.path
    export.unlink()
    assert channel.reload().kept_previous
    rows = (DATA / "tenancies.csv").read_text(encoding="utf-8").splitlines()
    export.write_text("\n".join(r for r in rows if not r.startswith("HT-1001,")) + "\n", encoding="utf-8")
    report = channel.reload()
    assert report.reloaded and not report.kept_previous and report.accepted == 3
    assert not _finds_ada(channel)  # the new export no longer holds her: the new index answers


def test_a_folder_export_reads_only_complete_files(tmp_path: Path) -> None:
    folder = tmp_path / "export-folder"
    folder.mkdir()
    shutil.copy(DATA / "tenancies.csv", folder / "tenancies.csv")
    channel = _channel(tmp_path, records=str(folder))
    (folder / "tenancies.csv.part").write_bytes(b"half a row,")
    (folder / ".~lock.tenancies.csv#").write_bytes(b"lock")
    assert [p.name for p in channel.source.files()] == ["tenancies.csv"]
    assert channel.reload().reloaded is False  # partial names are not part of the export


def test_a_changed_export_is_read_only_once_it_has_settled(tmp_path: Path) -> None:
    channel = _channel(tmp_path)
    channel.settle_s = 3600  # an export tool may still be writing: nothing changed long enough ago
    export = channel.source.path
    rows = export.read_text(encoding="utf-8").splitlines()
    export.write_text("\n".join(r for r in rows if not r.startswith("HT-1001,")) + "\n", encoding="utf-8")
    assert channel.reload().reloaded is False and _finds_ada(channel)  # written just now
    _settle(export, 7200)
    assert channel.reload().accepted == 3 and not _finds_ada(channel)
