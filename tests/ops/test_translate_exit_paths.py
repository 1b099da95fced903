"""``mashlink translate``: nothing half-written on any exit path, progress only on a terminal (issue 18)."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "mapping" / "data"
MASHLINK = [sys.executable, "-m", "mashlink.ops.cli"]


def _big_csv(path: Path, rows: int) -> Path:
    header, first, *_ = (DATA / "cases.csv").read_text(encoding="utf-8").splitlines()
    with path.open("w", encoding="utf-8") as fh:
        fh.write(header + "\n")
        rest = first.split(",", 1)[1]
        for i in range(rows):
            fh.write(f"C-{i},{rest}\n")
    return path


def test_sigterm_mid_run_leaves_no_part_file(tmp_path: Path) -> None:
    source = _big_csv(tmp_path / "big.csv", 200_000)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "canonical.json"
    proc = subprocess.Popen([*MASHLINK, "translate", "csv", str(source), "-o", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        # wait (bounded) until the run has started writing its temporary file
        deadline = time.monotonic() + 120
        while not list(out_dir.glob(".mashlink-translate-*.part")):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no .part file appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 128 + signal.SIGTERM, code
    assert list(out_dir.iterdir()) == []  # no .part, no partial output


def test_translate_is_silent_when_piped(tmp_path: Path) -> None:
    env = {**os.environ, "MASHLINK_PROGRESS_AFTER": "0"}
    result = subprocess.run([*MASHLINK, "translate", "csv", str(DATA / "cases.csv")], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "record(s) accepted" in result.stderr
    assert "translating csv" not in result.stderr and "\x1b[" not in result.stderr


def test_translate_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    source = _big_csv(tmp_path / "medium.csv", 3_000)
    env = {**os.environ, "MASHLINK_PROGRESS_AFTER": "0", "TERM": "xterm", "COLUMNS": "100"}
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([*MASHLINK, "translate", "csv", str(source)], stdout=subprocess.DEVNULL,
                                stderr=follower, env=env)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 0
    finally:
        os.close(leader)
    seen = b"".join(chunks).decode("utf-8", "replace")
    assert "translating csv" in seen and "record(s) accepted" in seen
