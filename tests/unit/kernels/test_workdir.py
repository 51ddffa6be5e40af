"""The service's every touch of a kernel's work dir: no link followed, no special file read."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pyexec.kernels.files import MAX_DEPTH, FileUnavailableError, FoundFile
from pyexec.kernels.workdir import GLANCE_ENTRIES, HostWorkDir, holds_nothing, open_beneath, scan


async def _stopped() -> bool:
    return True


async def _not_stopped() -> bool:
    return False


def _recording_stop(stops: list[str]) -> Callable[[], Awaitable[bool]]:
    async def stop() -> bool:
        stops.append("stopped")
        return True

    return stop


def test_the_scan_skips_dot_entries_inputs_and_caches_and_names_what_it_cannot_keep(
    tmp_path: Path,
) -> None:
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "scratch").write_text("x")
    (tmp_path / ".ipython" / "profile").mkdir(parents=True)
    (tmp_path / ".ipython" / "profile" / "history").write_text("x")
    (tmp_path / ".hidden.csv").write_text("x")
    (tmp_path / "sales.csv").write_text("input")
    (tmp_path / "out" / "deep").mkdir(parents=True)
    (tmp_path / "out" / "summary.csv").write_text("a,b\n")
    (tmp_path / "out" / "deep" / "r.txt").write_text("r")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "m.pyc").write_bytes(b"\0")
    (tmp_path / "report.xlsx").write_bytes(b"PK\x03\x04")
    os.symlink("/etc/passwd", tmp_path / "passwd")
    os.symlink(tmp_path / "out", tmp_path / "linked-dir")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "twice").write_text("t")
    os.link(tmp_path / "twice", tmp_path / "twice-again")
    found = scan(tmp_path, frozenset({"sales.csv"}))
    assert [f.name for f in found.files] == ["out/deep/r.txt", "out/summary.csv", "report.xlsx"]
    assert found.files[1].bytes == 4 and not found.truncated
    assert found.skipped == [
        "linked-dir: not kept: a symbolic link",
        "passwd: not kept: a symbolic link",
        "pipe: not kept: a FIFO",
        "twice: not kept: a file with several names (hard links)",
        "twice-again: not kept: a file with several names (hard links)",
    ]


def test_the_scan_stops_at_its_depth(tmp_path: Path) -> None:
    deep = tmp_path
    for _ in range(MAX_DEPTH + 5):
        deep = deep / "d"
        deep.mkdir()
    (deep / "bottom.txt").write_text("b")
    (tmp_path / "top.txt").write_text("t")
    found = scan(tmp_path)
    assert [f.name for f in found.files] == ["top.txt"] and found.truncated


def test_opening_follows_no_link_at_any_step(tmp_path: Path) -> None:
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "key.txt").write_text("the service's")
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    (work / "out" / "ok.txt").write_text("ok")
    os.symlink(secret_dir, work / "dir-link")
    os.symlink(secret_dir / "key.txt", work / "out" / "file-link")
    os.symlink("/dev/zero", work / "zero")
    os.mkfifo(work / "fifo")
    with open_beneath(work, "out/ok.txt") as f:
        assert f.read() == b"ok"
    for name in ("dir-link/key.txt", "out/file-link", "zero", "fifo", "../secret/key.txt"):
        with pytest.raises(FileUnavailableError):
            open_beneath(work, name).close()


async def test_inputs_are_created_never_written_through_a_link(tmp_path: Path) -> None:
    source = tmp_path / "sales.csv"
    source.write_text("a\n1\n")
    work = tmp_path / "work"
    work.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    os.symlink(victim, work / "planted.csv")
    files = HostWorkDir(work, _stopped, must_stop=True)
    assert await files.put("sales.csv", source) == 4
    assert (work / "sales.csv").read_text() == "a\n1\n"
    assert (work / "sales.csv").stat().st_mode & 0o777 == 0o444
    with pytest.raises(FileUnavailableError, match="already exists"):
        await files.put("planted.csv", source)
    assert victim.read_text() == "untouched"
    with pytest.raises(FileUnavailableError, match="plain file name"):
        await files.put("../escape.csv", source)


async def test_files_are_collected_after_the_kernel_is_stopped(tmp_path: Path) -> None:
    (tmp_path / "result.csv").write_text("x,y\n")
    stops: list[str] = []
    stop = _recording_stop(stops)
    files = HostWorkDir(tmp_path, stop, must_stop=True)
    async with files.collect(exclude=()) as collected:
        assert stops == ["stopped"]
        assert collected.files == [FoundFile("result.csv", 4)]
        async with collected.open(collected.files[0]) as source:
            assert source.read() == b"x,y\n"
    with pytest.raises(FileUnavailableError):
        async with collected.open(collected.files[0]):
            pass


async def test_nothing_is_read_of_a_kernel_with_rights_of_its_own_that_could_not_be_stopped(
    tmp_path: Path,
) -> None:
    (tmp_path / "result.csv").write_text("x,y\n")
    async with HostWorkDir(tmp_path, _not_stopped, must_stop=True).collect(()) as collected:
        assert collected.files == [] and collected.refused
    # With the service's own rights, there is nothing to gain: read as carefully.
    async with HostWorkDir(tmp_path, _not_stopped, must_stop=False).collect(()) as collected:
        assert collected.files == [FoundFile("result.csv", 4)]


async def test_a_file_swapped_after_the_scan_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "result.csv").write_text("x,y\n")
    secret = tmp_path.parent / f"{tmp_path.name}.secret"
    secret.write_text("root only")
    async with HostWorkDir(tmp_path, _stopped, must_stop=True).collect(()) as collected:
        (tmp_path / "result.csv").unlink()
        os.symlink(secret, tmp_path / "result.csv")
        with pytest.raises(FileUnavailableError):
            async with collected.open(collected.files[0]):
                pass


async def test_a_work_dir_with_nothing_to_keep_is_not_stopped_for(tmp_path: Path) -> None:
    (tmp_path / ".ipython" / "profile").mkdir(parents=True)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "sales.csv").write_text("input")
    stops: list[str] = []
    stop = _recording_stop(stops)
    files = HostWorkDir(tmp_path, stop, must_stop=True)
    async with files.collect(exclude={"sales.csv"}) as collected:
        assert collected.files == [] and collected.skipped == [] and not collected.refused
    assert stops == []


@pytest.mark.parametrize(
    "make",
    [
        lambda d: (d / "out.csv").write_text("x"),
        lambda d: os.symlink("/etc/shadow", d / "shadow"),
        lambda d: os.mkfifo(d / "pipe"),
        lambda d: (d / "empty-dir").mkdir(),
        # An input swapped for a directory: the scan walks it, so it must be stopped first.
        lambda d: (d / "sales.csv").mkdir(),
    ],
    ids=["file", "symlink", "fifo", "directory", "input-replaced-by-a-directory"],
)
async def test_anything_a_scan_could_touch_is_read_only_after_the_stop(
    tmp_path: Path, make: Callable[[Path], object]
) -> None:
    make(tmp_path)
    stops: list[str] = []
    stop = _recording_stop(stops)
    async with HostWorkDir(tmp_path, stop, must_stop=True).collect({"sales.csv"}):
        assert stops == ["stopped"]


def test_a_crowded_work_dir_is_left_to_the_full_scan(tmp_path: Path) -> None:
    for i in range(GLANCE_ENTRIES + 1):
        (tmp_path / f".hidden-{i}").write_text("")
    assert not holds_nothing(tmp_path)
    (tmp_path / ".hidden-0").unlink()
    assert holds_nothing(tmp_path)
    assert not holds_nothing(tmp_path / "missing")  # unsure: the full scan says why
