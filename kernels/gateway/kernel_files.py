"""Runs inside a gateway kernel: its half of moving files over the kernel's own channel.

`kernels.gateway.transfer` has the kernel execute this module's source in a namespace of its
own with `ARGS` set to one operation; the answer is published as display data of type
`RESULT_MIME` (a JSON object; `{"error": ...}` for a failure). Only the
standard library: the kernel's image need not have PyExec installed.

* `put`: one chunk of an input file, base64; the first creates the file (never over an
  existing one, never through a link), the last checks its size and SHA-256 and sets its mode.
* `list`: the regular files of the work dir, as `kernels.workdir.scan` finds them on a host.
* `read`: one chunk of a listed file, base64, with the whole file's size (and its SHA-256 with
  the last chunk), the file opened without following links, one component at a time.

The work dir is where the kernel started (IPython's `starting_dir`), not wherever user code
has `chdir`ed since. Nothing here is trusted by the service: it checks names, sizes and sums.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from typing import Any

RESULT_MIME = "application/vnd.pyexec.transfer+json"
MAX_FOUND_FILES = 10_000
MAX_DEPTH = 32
MAX_NOTED = 50
SKIPPED_DIRS = frozenset({"__pycache__"})
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def work_dir() -> str:
    try:
        shell = get_ipython()  # type: ignore[name-defined]
        started = getattr(shell, "starting_dir", None)
    except NameError:
        started = None
    return str(started or os.getcwd())


def main(args: dict[str, Any], root: str | None = None) -> dict[str, Any]:
    root = root or work_dir()
    op = args["op"]
    if op == "put":
        return put(root, args)
    if op == "list":
        return listing(root, frozenset(args.get("exclude") or ()))
    if op == "read":
        return read(root, args["name"], int(args["offset"]), int(args["length"]))
    raise ValueError(f"unknown transfer operation {op!r}")


def put(root: str, args: dict[str, Any]) -> dict[str, Any]:
    name = str(args["name"])
    if not name or "/" in name or name in (".", "..") or "\x00" in name:
        raise ValueError(f"not a plain file name: {name!r}")
    data = base64.b64decode(args["data"])
    offset = int(args["offset"])
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        if offset == 0:
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                fd = os.open(name, flags, 0o600, dir_fd=root_fd)
            except FileExistsError:
                raise FileExistsError(f"'{name}' already exists in the work dir") from None
        else:
            fd = os.open(name, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root_fd)
        try:
            if os.fstat(fd).st_size != offset:
                raise ValueError(f"'{name}' holds {os.fstat(fd).st_size} bytes, not {offset}")
            os.pwrite(fd, data, offset)
            size = offset + len(data)
            if not args.get("last"):
                return {"size": size}
            digest = _sha256(fd)
            if size != int(args["size"]) or digest != args["sha256"]:
                os.unlink(name, dir_fd=root_fd)
                raise ValueError(f"'{name}' arrived damaged (size or SHA-256 differs)")
            os.fchmod(fd, int(args["mode"]))
            return {"size": size, "sha256": digest}
        finally:
            os.close(fd)
    finally:
        os.close(root_fd)


def listing(root: str, exclude: frozenset[str]) -> dict[str, Any]:
    files: list[list[Any]] = []
    skipped: list[list[str]] = []
    state = {"truncated": False, "skipped_more": 0}

    def skip(path: str, why: str) -> None:
        if len(skipped) < MAX_NOTED:
            skipped.append([path, why])
        else:
            state["skipped_more"] += 1

    def visit(dir_fd: int, prefix: str, depth: int) -> None:
        with os.scandir(dir_fd) as entries:
            names = sorted(entry.name for entry in entries)
        subdirs = []
        for name in names:
            path = prefix + name
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                if not name.startswith(".") and name not in SKIPPED_DIRS:
                    subdirs.append(name)
                continue
            if name.startswith(".") or path in exclude:
                continue
            if not stat.S_ISREG(info.st_mode):
                skip(path, "not kept: " + _kind(info.st_mode))
            elif info.st_nlink != 1:
                skip(path, "not kept: a file with several names (hard links)")
            elif len(files) >= MAX_FOUND_FILES:
                state["truncated"] = True
                return
            else:
                files.append([path, info.st_size])
        for name in subdirs:
            if state["truncated"]:
                return
            if depth + 1 >= MAX_DEPTH:
                state["truncated"] = True
                continue
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:  # swapped for a link, or gone
                continue
            try:
                visit(child, f"{prefix}{name}/", depth + 1)
            finally:
                os.close(child)

    root_fd = os.open(root, _DIR_FLAGS)
    try:
        visit(root_fd, "", 0)
    finally:
        os.close(root_fd)
    files.sort()
    return {"files": files, "skipped": skipped, **state}


def read(root: str, name: str, offset: int, length: int) -> dict[str, Any]:
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") for p in parts) or "\x00" in name:
        raise ValueError(f"not a path inside the work dir: {name!r}")
    fds = [os.open(root, _DIR_FLAGS)]
    try:
        for part in parts[:-1]:
            fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
        fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fds[-1])
    finally:
        for opened in fds:
            os.close(opened)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise ValueError(f"'{name}' is not a regular file")
        os.set_blocking(fd, True)
        data = os.pread(fd, length, offset)
        result: dict[str, Any] = {
            "size": info.st_size,
            "data": base64.b64encode(data).decode("ascii"),
        }
        if offset + len(data) >= info.st_size:
            result["sha256"] = _sha256(fd)
        return result
    finally:
        os.close(fd)


def _sha256(fd: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


if "ARGS" in globals():
    from IPython.display import publish_display_data

    # Evaluated as a user expression, whose errors the kernel would not publish: say them.
    try:
        _result = main(ARGS)  # type: ignore[name-defined]  # noqa: F821
    except Exception as _exc:
        _result = {"error": f"{type(_exc).__name__}: {_exc}"}
    publish_display_data({RESULT_MIME: _result})
