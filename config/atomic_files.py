"""Write a file so that readers see all of it or nothing.

A practitioner's tool (or our own inbox poller) may list a folder at any
moment; a file that is still being written must never be visible under its
final name. The bytes go to a temporary file in the *same* directory (same
file system, so the rename is atomic), are flushed and fsynced, and only then
renamed over the final name with ``os.replace``; the directory is fsynced so
the rename survives a power cut. Temporary names start with ``.`` and end in
``.tmp``, which readers ignore.

It lives in ``config`` (beside the state directory it mostly serves) because
both the hub (audit anchors, keys) and the connectors (drop folders, exports)
need it, and imports run one way: neither may import the other.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TMP_SUFFIX = ".tmp"


def is_temporary(path: Path) -> bool:
    """Names a reader must skip: our temporaries, hidden files, editors' partial files."""
    name = path.name
    return name.startswith(".") or name.endswith(TMP_SUFFIX) or name.endswith(".part") or name.endswith("~")


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _durable_temporary(path: Path, data: bytes, mode: int) -> Path:
    """``data`` in a fsynced temporary beside ``path`` (``mode`` set before any byte is written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o640) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, os.replace, fsync dir)."""
    path = Path(path)
    tmp = _durable_temporary(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_create_bytes(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data``, all or nothing, unless it exists; True when this call created it.

    For files that must never be replaced once written (a generated key: a
    second key would orphan everything signed with the first). The fsynced
    temporary is hard-linked to the final name; ``link`` fails if the name
    exists, so two processes starting together cannot overwrite each other's
    file, and no reader ever sees it half-written.
    """
    path = Path(path)
    tmp = _durable_temporary(path, data, mode)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def atomic_write_text(path: Path, text: str, *, mode: int = 0o640) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def free_name(dst_dir: Path, name: str) -> Path:
    """``dst_dir/name``, or ``stem.N.suffix`` when taken (a repeated answer never overwrites an earlier one)."""
    target = dst_dir / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 1
    while target.exists():
        target = dst_dir / f"{stem}.{n}{suffix}"
        n += 1
    return target


def atomic_move(src: Path, dst_dir: Path, target: Path | None = None) -> Path:
    """Move ``src`` into ``dst_dir`` (same file system) without overwriting; returns the new path."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    target = target or free_name(dst_dir, src.name)
    os.replace(src, target)
    fsync_dir(dst_dir)
    fsync_dir(src.parent)
    return target
