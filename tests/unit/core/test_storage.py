from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from pyexec.core.storage import Storage, UploadTooLarge, safe_relative_parts


async def test_upload_streams_to_a_temp_file_then_lands_under_its_id(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    incoming = storage.incoming(limit=5_000_000)
    chunks = [bytes([i]) * 700_000 for i in range(4)]
    for chunk in chunks:
        await incoming.write(chunk)
    assert incoming.bytes == 2_800_000
    assert incoming.sha256 == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert incoming.head == chunks[0][:8192]
    await incoming.commit("file_abc")
    assert storage.file_path("file_abc").read_bytes() == b"".join(chunks)
    assert list(storage.incoming_dir().iterdir()) == []


async def test_upload_over_the_limit_is_deleted_at_once(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    incoming = storage.incoming(limit=2_500_000)
    await incoming.write(b"x" * 2_000_000)  # over the write buffer: on disk already
    assert len(list(storage.incoming_dir().iterdir())) == 1
    with pytest.raises(UploadTooLarge):
        await incoming.write(b"x" * 600_000)
    assert list(storage.incoming_dir().iterdir()) == []
    assert not (tmp_path / "files" / "file_x").exists()


async def test_empty_upload_is_an_empty_file(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    incoming = storage.incoming(limit=10)
    await incoming.commit("file_empty")
    assert storage.file_path("file_empty").read_bytes() == b""
    assert incoming.sha256 == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    "name", ["../x", "a/../../x", "/etc/passwd", "", ".", "a\\b", "a/./b", "x\x00y"]
)
def test_paths_that_leave_their_folder_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        safe_relative_parts(name)
    with pytest.raises(ValueError):
        Storage(tmp_path).artifact_path("job", name)


def test_nested_artifact_names_stay_inside(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    path = storage.artifact_path("job", "out/summary.csv")
    assert path == tmp_path / "jobs" / "job" / "artifacts" / "out" / "summary.csv"
    with pytest.raises(ValueError):
        storage.file_path("file_1/../../x")


async def test_sweep_deletes_only_stale_half_written_uploads(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    incoming = storage.incoming_dir()
    incoming.mkdir(parents=True)
    stale, fresh, other = incoming / "a.part", incoming / "b.part", incoming / "notes.txt"
    for path in (stale, fresh, other):
        path.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))
    assert await storage.sweep_incoming(3600) == 1
    assert not stale.exists() and fresh.exists() and other.exists()
    assert await Storage(tmp_path / "empty").sweep_incoming(3600) == 0  # no incoming dir yet
