"""The zygote: a warmed Python process that forks fresh kernels on request.

    python -m kernels.forkserver.zygote CONTROL_FD

It imports everything a kernel needs (ipykernel's application, IPython, numpy, pandas,
matplotlib with Agg, and whatever a rehearsal kernel imported lazily), freezes the heap, and
then only forks: each child enters its jail and becomes an ordinary ipykernel reached over
ZeroMQ ipc, sharing the imported libraries copy-on-write. The zygote itself holds no ZeroMQ
context, no event loop and no Python thread, so that a fork copies nothing half-alive.

It talks to the service over the inherited socket CONTROL_FD (see `protocol`), reaps its
children and reports how they ended. It exits when the service closes the socket; its
children die with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import importlib
import json
import os
import select
import selectors
import signal
import socket
import sys
import tempfile
import time
from typing import Any

from pyexec.kernels.forkserver import protocol

# Imported by every kernel at start-up or by the first typical cell.
PRELOAD = (
    "numpy",
    "pandas",
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib_inline.backend_inline",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "IPython.core.debugger",
    "IPython.core.completerlib",
    "IPython.extensions.storemagic",
    "sqlite3",
    "pdb",
    "psutil",
    "zmq.eventloop.zmqstream",
    "tornado.ioloop",
    "tornado.platform.asyncio",
)
# How long a spawn waits for the child to report the kernel it forked into its namespace.
REPORT_TIMEOUT_SECONDS = 10.0
# A rehearsal kernel runs this too, so the modules the first real cell would import (table
# and figure rendering) are already in the zygote.
REHEARSAL_CELL = """\
import pandas as pd, matplotlib.pyplot as plt
df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
display(df)
df.describe()
plt.plot([1, 2]); plt.show()
"""


class Zygote:
    def __init__(self, control: socket.socket, warmup: str, prepare: str = "") -> None:
        self.control = control
        self.warmup = warmup
        self.prepare = prepare
        self.pid = os.getpid()
        self.children: set[int] = set()
        self.status_pipes: dict[int, int] = {}  # read fd -> child pid
        self.selector = selectors.DefaultSelector()
        self._buffer = b""

    # -- warming up -------------------------------------------------------------------

    def warm(self) -> dict[str, Any]:
        started = time.monotonic()
        os.environ.setdefault("MPLBACKEND", "Agg")
        import matplotlib

        matplotlib.use("Agg")
        for name in PRELOAD:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
        from jupyter_client import localinterfaces

        localinterfaces._load_ips()
        _load_matplotlib_backends()
        import ipykernel.debugger

        # Forked kernels run untrusted code: no debugger (and no debugpy threads).
        ipykernel.debugger._is_debugpy_available = False
        from pyexec.kernels import linux
        from pyexec.kernels.forkserver import child

        # Before the rehearsal, which then learns what a kernel with this shell imports.
        child.prebuild_shell()

        if linux.is_linux():
            linux.libc()  # loaded once here, not in every child

        learned = self._rehearse()
        gc.collect()
        # Objects that exist now are never collected or moved: the collector would touch
        # (and so copy) every page of them in every child.
        gc.freeze()
        return {
            "pid": self.pid,
            "seconds": round(time.monotonic() - started, 3),
            "preloaded": len(sys.modules),
            "learned": learned,
            "threads": len(os.listdir("/proc/self/task")) if os.path.isdir("/proc") else 1,
        }

    def _rehearse(self) -> int:
        """Fork a throw-away kernel that runs a typical cell, and import what it imported."""
        before = set(sys.modules)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_fd)
                setup = (self.warmup, self.prepare)
                os.write(write_fd, json.dumps(_rehearsal_imports(before, setup)).encode())
            finally:
                os._exit(0)
        os.close(write_fd)
        chunks = []
        while chunk := os.read(read_fd, 1 << 16):
            chunks.append(chunk)
        os.close(read_fd)
        os.waitpid(pid, 0)
        learned = 0
        try:
            names = json.loads(b"".join(chunks) or b"[]")
        except ValueError:
            names = []
        for name in names:
            try:
                importlib.import_module(name)
                learned += 1
            except Exception:
                continue
        return learned

    # -- serving -------------------------------------------------------------------

    def serve(self) -> None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        os.set_blocking(wake_r, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        # Stray terminal signals are for the service; it stops us by closing the socket.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.selector.register(self.control, selectors.EVENT_READ, "control")
        self.selector.register(wake_r, selectors.EVENT_READ, "wake")
        self._reap()
        while True:
            for key, _ in self.selector.select():
                if key.data == "control":
                    if not self._read_control():
                        return
                elif key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        while os.read(wake_r, 512):
                            pass
                    self._reap()
                else:
                    self._read_status(int(key.fd))

    def _read_control(self) -> bool:
        try:
            data = self.control.recv(1 << 16)
        except InterruptedError:
            return True
        if not data:
            return False  # the service is gone
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            if line.strip():
                self._handle(protocol.decode(line))
        if len(self._buffer) > protocol.MAX_LINE:
            raise ValueError("control message too long")
        return True

    def _send(self, message: dict[str, Any]) -> None:
        self.control.sendall(protocol.encode(message))

    def _handle(self, message: dict[str, Any]) -> None:
        op, request_id = message.get("op"), message.get("id")
        try:
            if op == protocol.SPAWN:
                self._send({"id": request_id, **self._spawn(message)})
            elif op == protocol.SIGNAL:
                self._send({"id": request_id, "ok": self._signal(message)})
            else:
                self._send({"id": request_id, "error": f"unknown op {op!r}"})
        except Exception as exc:
            self._send({"id": request_id, "error": f"{type(exc).__name__}: {exc}"})

    def _spawn(self, request: dict[str, Any]) -> dict[str, int]:
        """Fork a kernel: {"pid": our child}, and with a PID namespace of its own also
        {"init": the kernel}, the namespace's first process, which our child forked."""
        jail = json.loads(request["jail"])
        cgroup_procs = list(jail.get("cgroup_procs") or [])
        read_fd, write_fd = os.pipe()
        joined_read, joined_write = os.pipe()
        report_read, report_write = os.pipe() if jail.get("new_pid") else (-1, -1)
        pid = os.fork()
        if pid == 0:
            try:
                from pyexec.kernels.forkserver.child import run_kernel

                os.close(read_fd)
                os.close(joined_write)
                if report_read >= 0:
                    os.close(report_read)
                run_kernel(
                    request,
                    write_fd,
                    joined_read,
                    report_write,
                    self.pid,
                    (self.warmup, self.prepare),
                )
            finally:
                os._exit(70)
        os.close(write_fd)
        os.close(joined_read)
        self.children.add(pid)
        self.status_pipes[read_fd] = pid
        self.selector.register(read_fd, selectors.EVENT_READ, "status")
        _join_cgroups(pid, cgroup_procs, joined_write)
        reply = {"pid": pid}
        if report_read >= 0:
            os.close(report_write)
            init = _read_report(report_read)
            if init is not None:
                reply["init"] = init
        return reply

    def _signal(self, request: dict[str, Any]) -> bool:
        pid, signum = int(request["pid"]), int(request["signal"])
        # Only our own live children: a pid we reaped may already belong to someone else.
        if pid not in self.children:
            return False
        try:
            os.killpg(pid, signum)  # the child leads its own process group
        except (ProcessLookupError, PermissionError):
            # Not yet out of the fork (a loaded machine): no group of its own, and nothing
            # of its own started either. Still our unreaped child, so the pid is its own.
            os.kill(pid, signum)
        return True

    def _read_status(self, fd: int) -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        pid = self.status_pipes.pop(fd)
        self.selector.unregister(fd)
        os.close(fd)
        # Nothing: the child died before it could say (its exit status tells how).
        if data and data != b"ok":
            error = data.decode(errors="replace")
            self._send({"event": protocol.SETUP, "pid": pid, "error": error})

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            if pid == 0:
                return
            if pid in self.children:
                self.children.discard(pid)
                code = os.waitstatus_to_exitcode(status)
                self._send({"event": protocol.EXIT, "pid": pid, "status": code})


def _load_matplotlib_backends() -> None:
    # `%matplotlib inline` resolves the backend through matplotlib's registry, which scans
    # every installed package's entry points on first use (~10 ms): once, here.
    with contextlib.suppress(Exception):
        from matplotlib.backends.registry import backend_registry

        backend_registry.list_all()


def _rehearsal_imports(before: set[str], setup: tuple[str, ...]) -> list[str]:
    """In a throw-away child: start a kernel app offline, run a cell, list new imports."""
    from traitlets.config import Config

    from pyexec.kernels.forkserver.child import KERNEL_CLASS, KERNEL_CONFIG, ForkedKernelApp

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    with tempfile.TemporaryDirectory(prefix="pyexec-zygote-") as tmp:
        from jupyter_client.connect import write_connection_file

        connection_file = os.path.join(tmp, "k.json")
        write_connection_file(connection_file, transport="ipc", ip=f"{tmp}/k", shell_port=1,
                              iopub_port=2, stdin_port=3, hb_port=4, control_port=5)
        config = Config(KERNEL_CONFIG)
        config.IPKernelApp.connection_file = connection_file
        config.IPKernelApp.parent_handle = os.getppid()
        config.IPKernelApp.kernel_class = KERNEL_CLASS
        os.environ["HOME"] = tmp
        app = ForkedKernelApp.instance(config=config)
        app.initialize([])  # type: ignore[no-untyped-call]  # ipykernel is unannotated
        assert app.shell is not None  # initialize() made it
        for cell in (*setup, REHEARSAL_CELL):
            if cell:
                app.shell.run_cell(cell, store_history=False, silent=True)
        _ = app.kernel.kernel_info
    return sorted(set(sys.modules) - before)


def _join_cgroups(pid: int, procs_files: list[str], joined_fd: int) -> None:
    """Move the child into its kernel's cgroups, then tell it ("ok", or why not).

    Done here, not by the child: a move waits for an RCU grace period (10-16 ms on cgroup
    v1), which the child spends setting itself up instead of waiting. It serves nothing
    before the answer (kernels.forkserver.child).
    """
    answer = "ok"
    for procs in procs_files:
        try:
            with open(procs, "w") as f:
                f.write(str(pid))
        except OSError as exc:
            answer = f"cannot enter the kernel sandbox (join cgroups): {exc}"
            break
    with contextlib.suppress(OSError):  # the child died already
        os.write(joined_fd, answer.encode(errors="replace"))
    os.close(joined_fd)


def _read_report(fd: int) -> int | None:
    """The kernel's pid, which the child writes as soon as it forked it (a few ms); None if
    the child failed first (its status pipe says why) or took too long."""
    data = b""
    try:
        while b"\n" not in data and select.select([fd], [], [], REPORT_TIMEOUT_SECONDS)[0]:
            chunk = os.read(fd, 64)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    try:
        return int(data.split(b"\n", 1)[0])
    except ValueError:
        return None


def _read_config(control: socket.socket) -> dict[str, Any]:
    """The service's first message: {"op": "configure", "warmup": code, "prepare": code}."""
    data = b""
    while b"\n" not in data:
        chunk = control.recv(1 << 16)
        if not chunk:
            raise SystemExit(0)
        data += chunk
    message = protocol.decode(data.split(b"\n", 1)[0])
    if message.get("op") != protocol.CONFIGURE:
        raise ValueError("the first message must configure the zygote")
    return message


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kernels.forkserver.zygote CONTROL_FD", file=sys.stderr)
        return 2
    control = socket.socket(fileno=int(args[0]))
    control.setblocking(True)
    # Nothing reads our stdout: whatever a library prints goes to stderr, never a full pipe.
    os.dup2(2, 1)
    config = _read_config(control)
    zygote = Zygote(control, str(config.get("warmup") or ""), str(config.get("prepare") or ""))
    try:
        info = zygote.warm()
    except Exception as exc:
        with contextlib.suppress(OSError):
            zygote._send({"event": protocol.READY, "error": f"{type(exc).__name__}: {exc}"})
        raise
    # The service hanging up (it stopped, or gave up waiting for us) ends the zygote quietly.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        zygote._send({"event": protocol.READY, **info})
        zygote.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
