"""Run by `test_sandbox_unprivileged.py` as a user that is not root (a process of its own,
by path, with a runtime's interpreter): lease one sandboxed kernel, look around from inside
it, kill it, and print what was seen as JSON on the last line.

    python unprivileged_kernel.py BACKEND DATA_DIR
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import psutil

from pyexec.kernels import (
    ForkServerLauncher,
    KernelLimits,
    KernelPool,
    LocalLauncher,
    SandboxPolicy,
)

LIMITS = KernelLimits(memory_mb=512, processes=48, cpu_seconds=60, file_size_mb=16, tmp_mb=32)
MARKER = "31337.5"

LOOK_AROUND = """
import json, os, resource, socket, subprocess
seen = {"pid": os.getpid(), "uid": os.getuid()}
seen["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
for name, path in {"home": "/home", "root": "/root", "data": DATA, "work": WORK}.items():
    try:
        seen[name] = sorted(os.listdir(path))
    except OSError as e:
        seen[name] = type(e).__name__
try:
    socket.create_connection(("127.0.0.1", 9), 2)
    seen["network"] = "connected"
except OSError as e:
    seen["network"] = e.errno
seen["nproc"] = list(resource.getrlimit(resource.RLIMIT_NPROC))
status = dict(l.split(":", 1) for l in open("/proc/self/status"))
seen["caps"] = status["CapEff"].strip() + "/" + status["CapBnd"].strip()
seen["no_new_privs"] = status["NoNewPrivs"].strip()
try:
    open(os.path.join(os.path.dirname(os.__file__), "planted.py"), "w")
    seen["stdlib"] = "written"
except OSError as e:
    seen["stdlib"] = e.strerror
subprocess.Popen(["sleep", "MARKER"], start_new_session=True)  # a daemon, out of our group
forked = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "MARKER"])
        forked += 1
except OSError as e:
    seen["fork_error"] = e.strerror
seen["forked"] = forked
print(json.dumps(seen))
""".replace("MARKER", MARKER)


def sleepers() -> list[int]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE and MARKER in process.cmdline():
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


async def main(backend: str, data: Path) -> dict[str, object]:
    policy = SandboxPolicy(limits=LIMITS, hidden=(data,))
    launcher = (
        ForkServerLauncher(sandbox=policy)
        if backend == "forkserver"
        else LocalLauncher(sandbox=policy)
    )
    pool = KernelPool(size=1, launcher=launcher, work_root=data / "work")
    await pool.start()
    try:
        await pool.wait_ready(timeout=120)
        assert launcher.isolation is not None
        report: dict[str, object] = {"isolation": launcher.isolation.as_dict()}
        async with pool.lease() as kernel:
            setup = f"DATA = {str(data)!r}; WORK = {str(kernel.work_dir.parent)!r}\n"
            ex = await kernel.execute(setup + LOOK_AROUND, timeout=60)
            text = "".join(o.get("text", "") for o in ex.outputs if o["output_type"] == "stream")
            report["status"] = ex.status
            report["seen"] = json.loads(text.strip().splitlines()[-1]) if text.strip() else None
            report["kernel_dir"] = kernel.work_dir.name
            report["sleepers_before"] = len(sleepers())
            started = time.monotonic()
            report["kill_verified"] = await kernel.launched.kill()
            report["kill_ms"] = round((time.monotonic() - started) * 1000)
            # Straight after kill() returned: nothing may be left, not even for a moment.
            report["sleepers_after"] = len(sleepers())
        return report
    finally:
        await pool.close()


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
    print(json.dumps(result))
