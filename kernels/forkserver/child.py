"""What a forked child of the zygote does: enter its jail, become an ipykernel, run.

Imported by the zygote only (it imports ipykernel's whole application); never by the service.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import comm
import ipykernel
from ipykernel.compiler import XCachingCompiler
from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel as KernelBase
from ipykernel.zmqshell import ZMQInteractiveShell
from IPython.paths import get_ipython_dir
from traitlets import List, Unicode
from traitlets.config import Config

from pyexec.kernels.jail import JAIL_FAILED_EXIT, Jail, JailError, enter

# No history database (a kernel lives for one job; In/Out stay in memory).
KERNEL_CONFIG: dict[str, dict[str, Any]] = {
    "HistoryManager": {"enabled": False, "hist_file": ":memory:"},
    "IPKernelApp": {"quiet": True},
}


class ForkedKernel(IPythonKernel):
    """IPythonKernel without the list of loaded modules it builds for its debugger.

    That list touches ~1,200 module objects and so copies ~8 MB of the zygote's memory into
    every child. The debugger is off in forked kernels; the rest is IPythonKernel.__init__
    of ipykernel 7 (the zygote falls back to the stock class on other versions).
    """

    def __init__(self, **kwargs: Any) -> None:
        KernelBase.__init__(self, **kwargs)
        self._kernel_modules = []
        prebuilt = self.shell_class.initialized()
        self.shell = self.shell_class.instance(
            parent=self,
            profile_dir=self.profile_dir,
            user_module=self.user_module,
            user_ns=self.user_ns,
            kernel=self,
            compiler_class=self.compiler_class,
        )
        shell: Any = self.shell
        if prebuilt:
            _adopt_shell(shell, self)
        shell.displayhook.session = self.session
        jupyter_session_name = os.environ.get("JPY_SESSION_NAME")
        if jupyter_session_name:
            shell.user_ns["__session__"] = jupyter_session_name
        shell.displayhook.pub_socket = self.iopub_socket
        shell.displayhook.topic = self._topic("execute_result")  # type: ignore[no-untyped-call]  # ipykernel is unannotated
        shell.display_pub.session = self.session
        shell.display_pub.pub_socket = self.iopub_socket
        self.comm_manager = comm.get_comm_manager()
        shell.configurables.append(self.comm_manager)
        for msg_type in ("comm_open", "comm_msg", "comm_close"):
            self.shell_handlers[msg_type] = getattr(self.comm_manager, msg_type)


def prebuild_shell() -> None:
    """In the zygote, before it forks: build the IPython shell that every kernel would build
    in `initialize()` (~45 configurables, a third of a child's start), once.

    It holds no socket, thread or anything of one kernel: each child adopts its own copy
    (`_adopt_shell`) and binds its kernel, sockets, directories and environment to it. The
    user namespace and history are the empty ones a fresh shell has; fork copies them.
    """
    if KERNEL_CLASS is not ForkedKernel or ZMQInteractiveShell.initialized():
        return  # only ForkedKernel knows how to adopt it
    # The compiler IPythonKernel passes (cells named as its debugger names them).
    shell = ZMQInteractiveShell.instance(
        config=Config(KERNEL_CONFIG), compiler_class=XCachingCompiler
    )
    # The zygote never runs code in it: nothing to save or clean up when it exits.
    atexit.unregister(shell.atexit_operations)
    # Built on the first display, which the warm-up's `%matplotlib inline` makes (ten
    # formatters, a sixth of the warm-up): built once, here.
    if shell.display_formatter is not None:
        _ = shell.display_formatter.formatters


def _adopt_shell(shell: Any, kernel: ForkedKernel) -> None:
    """Make the zygote's shell this kernel's, as if `kernel` had built it: what the shell's
    construction took from the process (cwd, HOME, environment, stdio) is taken again here."""
    shell.parent = kernel
    shell.kernel = kernel
    shell.ipython_dir = get_ipython_dir()
    shell.profile_dir = kernel.profile_dir
    shell.starting_dir = os.getcwd()
    shell.history_manager.dir_hist[:] = [Path.cwd()]
    # TERM, PAGER...: the child replaced the zygote's environment with the kernel's.
    shell.init_environment()
    # What the shell restores on exit: the kernel's streams (ipykernel replaced them).
    shell.sys_excepthook = sys.excepthook
    shell._orig_sys_module_state.update(
        stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr, excepthook=sys.excepthook
    )


KERNEL_CLASS: type[IPythonKernel] = (
    ForkedKernel if ipykernel.version_info[0] == 7 else IPythonKernel  # type: ignore[attr-defined]
)


class ForkedKernelApp(IPKernelApp):
    """IPKernelApp configured from a Config object, without the parts PyExec never uses."""

    # Not %store (it persists variables in the profile, for a kernel that lives for one job).
    default_extensions = List(Unicode(), [])

    def parse_command_line(self, argv: Any = None) -> None:
        # traitlets would build an argparse parser for every alias and flag (~25 ms);
        # everything comes from the Config given to the constructor instead.
        return None

    def init_config_files(self) -> None:
        # Forked kernels are configured by PyExec alone: no ipython_config.py from a profile
        # (the kernel's fresh HOME has none) or from /etc (a stat per candidate path).
        return None

    def load_config_file(self, *args: Any, **kwargs: Any) -> None:
        return None

    def init_code(self) -> None:
        # No startup files, exec_lines or scripts (the same reason as init_config_files): a
        # glob of four startup dirs per child, 4-5 ms of a start. What else it did, kept.
        shell: Any = self.shell
        if self.hide_initial_ns:
            shell.user_ns_hidden.update(shell.user_ns)
        shell._sys_modules_keys = set(sys.modules)  # what `%reset -f -a` keeps

    def init_heartbeat(self) -> None:
        # PyExec watches the kernel's process, not a heartbeat: one thread less to start.
        self.heartbeat = None

    def init_poller(self) -> None:
        # The child dies with the zygote through PR_SET_PDEATHSIG, at once, instead of a
        # thread polling its parent every second.
        self.poller = None


def run_kernel(
    request: dict[str, Any],
    status_fd: int,
    joined_fd: int,
    report_fd: int,
    zygote_pid: int,
    setup: tuple[str, str],
) -> NoReturn:
    """Become the kernel described by `request`. Never returns.

    `setup`: the warm-up (kernels.warmup.WARMUP_CODE) and the pool's preparation, which run
    before the kernel listens, so a forked kernel is warm and prepared the moment it answers
    and the pool sends neither (a round trip each, on both sides).

    Writes "ok" to `status_fd` once the kernel is set up, or the reason it could not be, then
    closes it (the zygote forwards this to the service as a `setup` event). The zygote puts
    the kernel in its cgroups meanwhile, and says so on `joined_fd`: the kernel serves
    nothing before. With a PID namespace of its own (`report_fd` >= 0), this process forks
    the kernel into it, writes its pid to `report_fd`, and waits for it (`kernels.jail`).
    """
    try:
        app = _prepare(request, status_fd, joined_fd, report_fd, zygote_pid, setup)
    except BaseException as exc:
        message = str(exc) if isinstance(exc, JailError) else f"{type(exc).__name__}: {exc}"
        _report(status_fd, message or type(exc).__name__)
        os._exit(JAIL_FAILED_EXIT)
    _report(status_fd, "")
    try:
        app.start()
    finally:
        os._exit(0)


def _report(status_fd: int, message: str) -> None:
    try:
        os.write(status_fd, message.encode(errors="replace")[:4000] or b"ok")
        os.close(status_fd)
    except OSError:
        pass


def _prepare(
    request: dict[str, Any],
    status_fd: int,
    joined_fd: int,
    report_fd: int,
    zygote_pid: int,
    setup: tuple[str, str],
) -> Any:
    # Undo what the zygote set for itself: its SIGCHLD reaper would steal the exit codes of
    # subprocesses user code starts.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _redirect_output(request.get("log_file"))
    _close_fds_except(status_fd, joined_fd, *([report_fd] if report_fd >= 0 else []))
    # The zygote moves us into the cgroups (_await_cgroups).
    jail = dataclasses.replace(
        Jail.from_json(request["jail"]),
        cgroup_procs=[],
        report_fd=report_fd if report_fd >= 0 else None,
    )
    connection_file = request["connection_file"]
    if jail.uid is not None:
        # jupyter_client wrote it 0600 for the service's user.
        os.chown(connection_file, jail.uid, jail.gid if jail.gid is not None else jail.uid)
    enter(jail, parent_pid=zygote_pid)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request.get("cwd") or jail.work_dir)
    _reseed()
    config = Config(KERNEL_CONFIG)
    config.IPKernelApp.connection_file = connection_file
    # Non-zero, so ipykernel knows it has a parent and prints no console banner.
    config.IPKernelApp.parent_handle = zygote_pid
    config.IPKernelApp.kernel_class = KERNEL_CLASS
    app = ForkedKernelApp.instance(config=config)
    app.initialize([])  # type: ignore[no-untyped-call]  # ipykernel is unannotated
    assert app.shell is not None  # initialize() made it
    for name, code in zip(("warm-up", "preparation"), setup, strict=True):
        if not code:
            continue
        result = app.shell.run_cell(code, store_history=False, silent=True)
        if not result.success:
            # The service's own code: failing here is a bug to see at the start, not to hide.
            error = result.error_in_exec or result.error_before_exec
            raise RuntimeError(f"kernel {name} failed: {error!r}")
    _await_cgroups(joined_fd)
    return app


def _close_fds_except(*keep: int) -> None:
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)


def _await_cgroups(joined_fd: int) -> None:
    chunks = []
    while chunk := os.read(joined_fd, 4096):
        chunks.append(chunk)
    os.close(joined_fd)
    answer = b"".join(chunks).decode(errors="replace")
    if answer != "ok":
        # Empty: the zygote died before it could say (and we die with it).
        raise JailError(answer or "cannot enter the kernel sandbox (join cgroups): no answer")


def _redirect_output(log_file: str | None) -> None:
    # The kernel must not hold the service's stdout/stderr: its own log file (or nothing).
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_NOFOLLOW if log_file else 0)
    fd = os.open(log_file or os.devnull, flags, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def _reseed() -> None:
    # fork copies the generators' state: every child would draw the same numbers.
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
