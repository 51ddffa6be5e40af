"""Both halves of moving files over a gateway kernel's channel, without a kernel: the kernel's
half (`kernel_files`) on a real directory, the worker's checks on what a kernel answers."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pyexec.kernels.gateway import kernel_files
from pyexec.kernels.gateway.kernel_launch import kernel_environment, working_dir
from pyexec.kernels.gateway.transfer import _collected


def put(root: Path, name: str, data: bytes, chunk: int = 4, mode: int = 0o444) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    offsets = range(0, max(len(data), 1), chunk)
    for offset in offsets:
        piece = data[offset : offset + chunk]
        last = offset + chunk >= len(data)
        args: dict[str, Any] = {
            "op": "put",
            "name": name,
            "offset": offset,
            "data": base64.b64encode(piece).decode(),
            "last": last,
        }
        if last:
            args.update(size=len(data), sha256=hashlib.sha256(data).hexdigest(), mode=mode)
        answer = kernel_files.main(args, str(root))
    return answer


def test_put_writes_in_chunks_checks_the_sum_and_sets_the_mode(tmp_path: Path) -> None:
    data = b"region,amount\nnorth,10\n"
    answer = put(tmp_path, "sales.csv", data, chunk=5)
    assert answer == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert (tmp_path / "sales.csv").read_bytes() == data
    assert stat.S_IMODE((tmp_path / "sales.csv").stat().st_mode) == 0o444
    assert put(tmp_path, "empty.txt", b"")["size"] == 0


def test_put_refuses_to_overwrite_follow_links_or_keep_damage(tmp_path: Path) -> None:
    (tmp_path / "taken.csv").write_text("mine")
    with pytest.raises(FileExistsError):
        put(tmp_path, "taken.csv", b"theirs")
    assert (tmp_path / "taken.csv").read_text() == "mine"
    os.symlink(tmp_path / "elsewhere", tmp_path / "link.csv")
    with pytest.raises(FileExistsError):
        put(tmp_path, "link.csv", b"x")
    assert not (tmp_path / "elsewhere").exists()
    with pytest.raises(ValueError, match="not a plain file name"):
        put(tmp_path, "../up.csv", b"x")
    args = {"op": "put", "name": "bad.bin", "offset": 0, "data": "eA==", "last": True}
    with pytest.raises(ValueError, match="damaged"):
        kernel_files.main({**args, "size": 1, "sha256": "0" * 64, "mode": 0o444}, str(tmp_path))
    assert not (tmp_path / "bad.bin").exists()


def test_the_listing_keeps_regular_files_and_names_the_rest(tmp_path: Path) -> None:
    (tmp_path / "out" / "deep").mkdir(parents=True)
    (tmp_path / "out" / "deep" / "r.csv").write_text("abc")
    (tmp_path / "input.csv").write_text("in")
    (tmp_path / ".hidden").write_text("no")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_text("no")
    os.symlink("/etc/passwd", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "one").write_text("1")
    os.link(tmp_path / "one", tmp_path / "two")
    os.symlink(tmp_path / "out", tmp_path / "dirlink")
    answer = kernel_files.main({"op": "list", "exclude": ["input.csv"]}, str(tmp_path))
    assert answer["files"] == [["out/deep/r.csv", 3]]
    assert sorted(answer["skipped"]) == [
        ["dirlink", "not kept: a symbolic link"],
        ["fifo", "not kept: a FIFO"],
        ["link", "not kept: a symbolic link"],
        ["one", "not kept: a file with several names (hard links)"],
        ["two", "not kept: a file with several names (hard links)"],
    ]
    assert answer["truncated"] is False


def test_the_listing_stops_at_the_depth_limit(tmp_path: Path) -> None:
    deep = tmp_path
    for level in range(kernel_files.MAX_DEPTH + 2):
        deep = deep / f"d{level}"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("x")
    answer = kernel_files.main({"op": "list"}, str(tmp_path))
    assert answer["files"] == [] and answer["truncated"] is True


def test_reads_come_in_chunks_with_the_sum_on_the_last(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    data = os.urandom(1000)
    (tmp_path / "out" / "f.bin").write_bytes(data)
    first = kernel_files.main(
        {"op": "read", "name": "out/f.bin", "offset": 0, "length": 600}, str(tmp_path)
    )
    assert first["size"] == 1000 and "sha256" not in first
    last = kernel_files.main(
        {"op": "read", "name": "out/f.bin", "offset": 600, "length": 600}, str(tmp_path)
    )
    assert base64.b64decode(first["data"]) + base64.b64decode(last["data"]) == data
    assert last["sha256"] == hashlib.sha256(data).hexdigest()


def test_reads_follow_no_link_anywhere_in_the_path(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f.txt").write_text("x")
    os.symlink(tmp_path / "real", tmp_path / "via")
    os.symlink("/etc/passwd", tmp_path / "secret")
    for name in ("via/f.txt", "secret", "../etc/passwd", "/etc/passwd"):
        with pytest.raises((OSError, ValueError)):
            kernel_files.main({"op": "read", "name": name, "offset": 0, "length": 9}, str(tmp_path))


def test_a_hostile_listing_is_checked_entry_by_entry() -> None:
    answer = {
        "files": [
            ["ok.csv", 10],
            ["../../etc/passwd", 5],
            ["/abs", 1],
            ["a//b", 1],
            ["neg", -1],
            ["bool", True],
            ["ok.csv", 10],  # twice
            ["bad\\name", 1],
            ["ctrl\x07", 1],
            "not-a-pair",
            ["x" * 5000, 1],
            ["out/r.csv", 3],
        ],
        "skipped": [["link", "not kept: a symbolic link"], [1, 2]],
        "skipped_more": 7,
        "truncated": False,
    }
    collected = _collected(answer)
    assert [(f.name, f.bytes) for f in collected.files] == [("ok.csv", 10), ("out/r.csv", 3)]
    assert collected.skipped_more == 7
    assert "link: not kept: a symbolic link" in collected.skipped
    assert len(collected.skipped) == 11  # each refused entry is named, not silently dropped


def test_the_kernels_environment_is_built_from_nothing(tmp_path: Path) -> None:
    inherited = {
        "KERNEL_ID": "k1",
        "KERNEL_USERNAME": "pyexec",
        "JPY_PARENT_PID": "1234",
        "EG_AUTH_TOKEN": "secret",
        "MPLBACKEND": "Agg",
        "FORCE_COLOR": "1",
    }
    work = working_dir(inherited, tmp_path / "root")
    assert work.parent == tmp_path / "root" and work.name.startswith("k1-")
    assert stat.S_IMODE(work.stat().st_mode) == 0o700 and (work / ".tmp").is_dir()
    env = kernel_environment(work, inherited, "/opt/venv/bin/python")
    assert env["HOME"] == str(work) and env["TMPDIR"] == str(work / ".tmp")
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert env["KERNEL_ID"] == "k1" and env["JPY_PARENT_PID"] == "1234"
    assert not {"EG_AUTH_TOKEN", "MPLBACKEND", "FORCE_COLOR"} & set(env)


def test_a_shared_working_dir_is_used_as_it_is(tmp_path: Path) -> None:
    shared = tmp_path / "shared" / "k2"
    shared.mkdir(parents=True)
    assert working_dir({"KERNEL_WORKING_DIR": str(shared)}, tmp_path / "root") == shared
    assert not (tmp_path / "root").exists()
    with pytest.raises(SystemExit, match="not a directory"):
        working_dir({"KERNEL_WORKING_DIR": str(tmp_path / "missing")}, tmp_path / "root")
