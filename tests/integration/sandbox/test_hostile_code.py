"""Hostile code, submitted as jobs over HTTP to a real server, on both kernel backends, with
the service as root and as an unprivileged user (`nobody`, from a runtime it can read: see
tests/support/runtimes.py), where a laptop's service has no uid or cgroup per kernel but user
and PID namespaces.

Every case must end in a final state with a clear error message (or a contained result), the
service must stay ready, and the next job must run normally. A case whose protection the host
cannot offer skips with the reason `/readyz` gives; CI runs as root and runs them all.

Every attack is bounded so that a broken sandbox cannot take the test machine down: at most
~2,000 forks, ~8 GB allocated gradually, ~2 GB written, and `os.kill(-1, 9)` only from a
kernel that has checked it is not root.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.processes import gone
from tests.support.runtimes import (
    INSTALL_HINT,
    Runtime,
    RuntimeServer,
    make_runtime,
    runtime_server,
    shared_python,
    unprivileged_user,
)
from tests.support.servers import PYEXEC, Server, run_job

UIDS = "220000-220099"  # a range of its own, apart from other servers running at once
KERNEL_UIDS = range(220000, 220100)
MEMORY_MB = 512
FILE_MB = 64
CANARY = f"canary-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def unprivileged_runtime() -> Iterator[Runtime]:
    """This checkout and its venv where `nobody` can run them (built once, on first use)."""
    if os.geteuid() != 0:
        pytest.skip("running the service as another user needs root")
    user = unprivileged_user()
    python = shared_python(user)
    if python is None:
        pytest.skip(f"no Python 3.11 that {user.pw_name} can run ({INSTALL_HINT})")
    root = Path(tempfile.mkdtemp(prefix="pyexec-hostile-"))
    os.chmod(root, 0o755)
    try:
        made = make_runtime(root / "runtime", base_python=python)
        yield Runtime(made.root, made.python, made.src, user)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(
    scope="module",
    params=["forkserver", "local", "forkserver-unprivileged", "local-unprivileged"],
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    backend, _, who = request.param.partition("-")
    env = {
        "PYEXEC_KERNEL_BACKEND": backend,
        # The tests ask /readyz how kernels are isolated, to skip what the host cannot offer.
        "PYEXEC_READYZ_DETAILS": "1",
        "PYEXEC_KERNEL_UID_RANGE": UIDS,
        "PYEXEC_KERNEL_MEMORY_MB": str(MEMORY_MB),
        "PYEXEC_KERNEL_MAX_PROCESSES": "128",
        "PYEXEC_KERNEL_MAX_FILE_MB": str(FILE_MB),
        "PYEXEC_KERNEL_INTERRUPT_GRACE": "1",
        # Secrets of the service that no kernel may learn.
        "OPENAI_API_KEY": f"sk-{CANARY}",
        "PYEXEC_TEST_CANARY": CANARY,
    }
    data_dir = Path(tmp_path_factory.mktemp("hostile")) / "data"
    if who == "unprivileged":
        runtime: Runtime = request.getfixturevalue("unprivileged_runtime")
        # Where the user can reach it: pytest's own temporary dirs are private to root.
        base = Path(tempfile.mkdtemp(prefix="pyexec-hostile-data-"))
        os.chmod(base, 0o755)
        request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
        srv: Server = runtime_server(runtime, base / "data", env).start()
    else:
        srv = Server(data_dir, env).start()
    try:
        yield srv
    finally:
        srv.stop()
    # Nothing that ran as a kernel uid outlives the service.
    eventually(lambda: not processes_of(KERNEL_UIDS), timeout=20)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client(server.create_key(f"mallory-{uuid.uuid4().hex[:8]}@example.com")) as c:
        yield c


@pytest.fixture
def isolation(client: httpx.Client) -> dict:
    report = client.get("/readyz").json()["isolation"]
    assert report is not None
    return report


def need(isolation: dict, *features: str) -> None:
    for feature in features:
        if feature in isolation["missing"]:
            pytest.skip(f"the host lacks {feature}: {isolation['missing'][feature]}")


def attack(client: httpx.Client, code: str, timeout: int = 60) -> dict:
    """Run `code` as a job; then the service must be ready and run the next job normally."""
    job = run_job(client, {"code": code, "timeout_seconds": timeout}, wait=timeout + 30)
    assert job["status"] in ("completed", "failed"), job
    assert job["status"] == "completed" or job["error_message"], job
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    after = run_job(client, {"code": "print(6 * 7)"})
    assert after["status"] == "completed" and after["result"] == "42", after
    return job


def printed(job: dict) -> str:
    return "".join(o.get("text", "") for o in job["outputs"] if o["type"] == "text")


def eventually(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def processes_of(uids: range) -> list[int]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.uids().real in uids and process.status() != "zombie":
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def processes_with(marker: str) -> list[int]:
    found = []
    for process in psutil.process_iter():
        try:
            if marker in " ".join(process.cmdline()) and process.status() != "zombie":
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def descendants_with(root: int, marker: str) -> list[psutil.Process]:
    """Live descendants of `root` running `marker`; kernels thrown away in the background may
    be exiting, or zombies, while we look."""
    found = []
    for pid in processes_with(marker):
        try:
            process = psutil.Process(pid)
            if root in {parent.pid for parent in process.parents()}:
                found.append(process)
        except psutil.Error:
            continue
    return found


# -- the service's files and secrets ----------------------------------------------------


def test_read_the_database_and_the_data_dir(
    server: Server, client: httpx.Client, isolation: dict
) -> None:
    need(isolation, "filesystem")
    db = server.data_dir / "pyexec.db"
    assert db.exists()
    job = attack(client, f"print(open({str(db)!r}, 'rb').read(16))")
    assert job["status"] == "failed"
    assert job["error_message"].startswith("FileNotFoundError"), job["error_message"]
    job = attack(client, f"import os\nprint(sorted(os.listdir({str(server.data_dir)!r})))")
    assert printed(job) == "['work']\n"  # no database, no key, no other job's notebook


def test_read_another_running_jobs_work_dir(
    server: Server, client: httpx.Client, isolation: dict
) -> None:
    need(isolation, "filesystem")
    victim = client.post(
        "/v1/jobs",
        json={"code": "open('secret.txt', 'w').write('s3cret')\nimport time\ntime.sleep(60)"},
    ).json()
    work_root = server.data_dir / "work"
    secrets: list[Path] = []

    def victim_wrote() -> bool:
        # <work root>/<the pool's own dir>/<the kernel's>/ (kernels.workroot)
        secrets[:] = list(work_root.glob("*/*/secret.txt"))
        return bool(secrets)

    eventually(victim_wrote, timeout=30)
    try:
        job = attack(client, f"print(open({str(secrets[0])!r}).read())")
        assert job["status"] == "failed" and "FileNotFoundError" in job["error_message"]
        pool_dir = secrets[0].parent.parent
        job = attack(client, f"import os\nprint(len(os.listdir({str(pool_dir)!r})))")
        assert printed(job) == "1\n"  # its own work dir, nothing else
    finally:
        client.post(f"/v1/jobs/{victim['id']}/cancel")


def test_read_the_services_environment(
    server: Server, client: httpx.Client, isolation: dict
) -> None:
    need(isolation, "filesystem")
    assert server.proc is not None
    job = attack(client, f"print(open('/proc/{server.proc.pid}/environ').read())")
    assert job["status"] == "failed" and "FileNotFoundError" in job["error_message"]
    job = attack(
        client,
        "import os, glob\n"
        "print([k for k in os.environ if 'OPENAI' in k or k.startswith('PYEXEC')])\n"
        "found = []\nfor path in glob.glob('/proc/*/environ'):\n"
        "    try:\n        found.append(open(path, 'rb').read())\n"
        "    except OSError:\n        pass\n"
        f"print(any(b'{CANARY}' in env for env in found))",
    )
    assert printed(job) == "[]\nFalse\n"


SWAPPER = (Path(__file__).parent / "swapper.py").read_text()


@pytest.fixture(scope="module")
def secret_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder only root may read, holding a canary."""
    folder = Path(tmp_path_factory.mktemp("root-only")) / "secrets"
    folder.mkdir(mode=0o700)
    canary = folder / "secret.txt"
    canary.write_text(f"{CANARY}\n")
    canary.chmod(0o600)
    return folder


@pytest.mark.parametrize("attempt", range(3))
def test_files_swapped_for_links_while_the_service_collects_them(
    server: Server, client: httpx.Client, secret_dir: Path, attempt: int
) -> None:
    """The job keeps swapping what it wrote for links to the service's secrets, FIFOs and
    /dev/zero after its last cell; nothing of a secret may come back, the job must end, and
    the database must stay healthy with an operator command run beside the service."""
    with server.client(server.create_key(f"victim-{uuid.uuid4().hex[:8]}@example.com")) as v:
        upload = v.post(
            "/v1/files", files={"file": ("private.csv", f"other account {CANARY}\n")}
        ).json()
    demo_key = (server.data_dir / "demo-api-key").read_text().strip()
    targets = {
        "canary.txt": str(secret_dir / "secret.txt"),
        "db.sqlite": str(server.data_dir / "pyexec.db"),
        "demo.key": str(server.data_dir / "demo-api-key"),
        "environ.txt": "/proc/self/environ",
        "zero.bin": "/dev/zero",
        "shadow.txt": "/etc/shadow",
        "upload.csv": str(server.data_dir / "files" / upload["id"]),
    }
    code = f"{SWAPPER}\nprint(start({targets!r}, {str(secret_dir)!r}))"
    job = run_job(client, {"code": code, "timeout_seconds": 60}, wait=90)
    assert job["status"] == "completed", job
    forbidden = [CANARY.encode(), b"SQLite format 3", demo_key.encode(), b"root:"]
    for artifact in job["artifacts"]:
        content = client.get(artifact["url"]).content
        assert not any(marker in content for marker in forbidden), artifact
        assert artifact["bytes"] < 1_000_000, artifact
    bundle = client.get(f"/v1/jobs/{job['id']}/bundle")
    assert bundle.status_code == 200
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        for name in archive.namelist():
            content = archive.read(name)
            assert not any(marker in content for marker in forbidden), name
    # An operator command next to the service (its own connection to the database), then
    # the service must still read and write it.
    operator = ["keys", "create", "--email", f"ops-{attempt}@example.com", "--plan", "pro"]
    if isinstance(server, RuntimeServer):
        server.create_key(f"ops-{attempt}@example.com", "pro")  # as the service's user
    else:
        subprocess.run(
            [*PYEXEC, *operator], env=server.env, check=True, capture_output=True, timeout=60
        )
    assert client.get("/v1/jobs").status_code == 200
    after = run_job(client, {"code": "print(6 * 7)"})
    assert after["status"] == "completed" and after["result"] == "42", after
    assert client.get("/readyz").status_code == 200


# -- the network ------------------------------------------------------------------------


def test_connect_to_the_service_and_to_loopback(
    server: Server, client: httpx.Client, isolation: dict
) -> None:
    need(isolation, "network")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        for port in (server.port, listener.getsockname()[1]):
            job = attack(
                client, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), 3)"
            )
            assert job["status"] == "failed"
            assert "Network is unreachable" in job["error_message"], job["error_message"]


# -- resources ----------------------------------------------------------------------------


def need_own_processes(isolation: dict) -> None:
    """A uid of the kernel's own (root), or a PID and user namespace of its own (not root):
    its processes are counted and killed as a whole either way."""
    if "uid" in isolation["enforced"] or "processes" in isolation["enforced"]:
        return
    pytest.skip(f"the host lacks uid: {isolation['missing']['uid']}")


def test_fork_bomb(client: httpx.Client, isolation: dict) -> None:
    need_own_processes(isolation)
    marker = f"{time.time_ns() % 10**6}.5"
    job = attack(
        client,
        "import os\nchildren = 0\ntry:\n    for _ in range(2000):\n"
        "        if os.fork() == 0:\n"
        f"            os.execv('/bin/sleep', ['sleep', '{marker}'])\n"
        "        children += 1\nfinally:\n    print('forked', children)",
    )
    assert job["status"] == "failed"
    assert job["error_message"].startswith("BlockingIOError"), job["error_message"]
    assert int(printed(job).split()[1]) < 128
    eventually(lambda: not processes_with(f"sleep {marker}"))


def test_memory_bomb(client: httpx.Client) -> None:
    # RLIMIT_AS holds everywhere (MemoryError); a memory cgroup kills what it misses.
    # 64 MB at a time, each touched, up to 8 GB: the limit must stop it long before.
    job = attack(
        client, "chunks = []\nfor _ in range(128):\n    chunks.append(bytearray(64 << 20))"
    )
    assert job["status"] == "failed"
    message = job["error_message"]
    assert message.startswith(("MemoryError", f"kernel died: out of memory (limit {MEMORY_MB}")), (
        message
    )


def test_disk_fill(server: Server, client: httpx.Client, isolation: dict) -> None:
    # 16 MB at a time up to 2 GB: the file size limit stops it at FILE_MB.
    job = attack(
        client,
        "with open('fill.bin', 'wb') as f:\n    for _ in range(128):\n"
        "        f.write(b'x' * (16 << 20))",
    )
    assert job["status"] == "failed"
    assert job["error_message"].startswith("OSError: [Errno 27] File too large")


def test_fifty_megabytes_of_stdout(client: httpx.Client) -> None:
    job = attack(
        client,
        "import sys\nline = 'x' * 1023 + '\\n'\n"
        "for _ in range(50 * 1024):\n    sys.stdout.write(line)",
    )
    assert job["status"] == "completed"
    text = printed(job)
    assert len(text) < 2_000_000 and "output truncated" in text
    notebook = client.get(f"/v1/jobs/{job['id']}/notebook")
    assert notebook.status_code == 200 and len(notebook.content) < 3_000_000


@pytest.mark.parametrize("code", ["while True: pass", "import time\ntime.sleep(10**6)"])
def test_never_ending_cells(client: httpx.Client, code: str) -> None:
    job = attack(client, code, timeout=3)
    assert job["status"] == "failed" and job["error_message"] == "timed out after 3 s"


# -- processes ----------------------------------------------------------------------------


def test_kill_the_parent_the_zygote(client: httpx.Client, isolation: dict) -> None:
    need_own_processes(isolation)
    job = attack(
        client,
        "import os, signal\nparent = os.getppid()\nprint(parent)\n"
        "if parent:\n    os.kill(parent, signal.SIGKILL)",
    )
    if "uid" in isolation["enforced"]:
        assert job["status"] == "failed"
        assert job["error_message"].startswith("PermissionError"), job["error_message"]
    else:
        # The first process of its own PID namespace: its parent is not even there to kill.
        assert job["status"] == "completed" and printed(job) == "0\n", job


def test_kill_every_process_it_can(client: httpx.Client, isolation: dict) -> None:
    need_own_processes(isolation)
    # As root this would kill every process on the machine: the kernel checks first.
    job = attack(
        client,
        "import os, signal\nif os.getuid() == 0:\n    raise SystemExit('refusing: root')\n"
        "try:\n    os.kill(-1, signal.SIGKILL)\nexcept ProcessLookupError:\n    pass\n"
        "print('still here')",
    )
    # kill(-1) spares the caller: only other processes of the kernel's own uid die (none); in
    # a PID namespace of its own, where it is the first process, there is none to signal.
    assert job["status"] == "completed" and printed(job) == "still here\n"


@pytest.mark.parametrize("server", ["forkserver", "forkserver-unprivileged"], indirect=True)
def test_the_zygote_killed_from_outside_comes_back(server: Server, client: httpx.Client) -> None:
    assert server.proc is not None
    zygotes = descendants_with(server.proc.pid, "pyexec.kernels.forkserver.zygote")
    assert zygotes
    # bwrap and the zygote inside it both match; killing one can take the other with it.
    killed = 0
    for zygote in zygotes:
        try:
            zygote.send_signal(signal.SIGKILL)
            killed += 1
        except psutil.NoSuchProcess:
            continue
    assert killed
    # A SIGKILL takes effect when the process next runs, which a loaded machine delays;
    # the service can only act on a death that has happened.
    eventually(lambda: all(gone(zygote.pid) for zygote in zygotes), timeout=10)
    eventually(lambda: client.get("/readyz").status_code == 200, timeout=60)
    after = run_job(client, {"code": "print('back')"})
    assert after["status"] == "completed" and after["result"] == "back", after


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("import ctypes\nctypes.string_at(0)", "kernel died (signal SIGSEGV)"),
        ("import os\nos._exit(0)", "kernel died (exit code 0)"),
        ("import sys\nsys.exit()", "SystemExit"),
    ],
)
def test_crash_or_exit(client: httpx.Client, code: str, message: str) -> None:
    job = attack(client, code)
    assert job["status"] == "failed" and job["error_message"] == message


def test_write_outside_the_work_dir(server: Server, client: httpx.Client, isolation: dict) -> None:
    need(isolation, "filesystem")
    name = f"pyexec-hostile-{uuid.uuid4().hex}"
    targets = ["/etc", "/usr", "/tmp", str(server.data_dir), str(server.data_dir / "work")]
    # Where the kernels' shared view could keep a file for the next job's kernel.
    view = ["/", "/etc", "/var/tmp", "/dev", "/dev/shm", "/tmp", str(server.data_dir / "work")]
    job = attack(
        client,
        "import os\nfor d in " + repr(sorted({*targets, *view})) + ":\n    try:\n"
        f"        open(os.path.join(d, {name!r}), 'w').write('x')\n        print(d, 'ok')\n"
        "    except OSError as e:\n        print(d, e.strerror)",
    )
    results = dict(line.split(" ", 1) for line in printed(job).splitlines())
    assert results["/usr"] in ("Read-only file system", "Permission denied")
    # Not even in the view's own /etc: without root, the next job's kernel would find it.
    assert results["/etc"] in ("Read-only file system", "Permission denied")
    # /tmp is the kernel's own, private and gone with it.
    assert results["/tmp"] == "ok"
    for target in targets:
        assert not (Path(target) / name).exists(), target
    # Nothing the first job wrote anywhere is there for the next one (ld.so.preload, say).
    after = attack(
        client,
        f"import os\nprint([d for d in {view!r} if os.path.exists(os.path.join(d, {name!r}))])",
    )
    assert printed(after) == "[]\n", printed(after)


def test_leave_a_process_and_a_thread_running(client: httpx.Client, isolation: dict) -> None:
    need_own_processes(isolation)
    marker = f"{time.time_ns() % 10**6}.25"
    job = attack(
        client,
        "import subprocess, threading, time\n"
        f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
        f"subprocess.Popen(['sh', '-c', 'sleep {marker} & sleep {marker}'])\n"
        f"threading.Thread(target=time.sleep, args=({marker},)).start()\nprint('left')",
    )
    assert job["status"] == "completed" and printed(job) == "left\n"
    # Daemonised or not, nothing of the job outlives it.
    eventually(lambda: not processes_with(f"sleep {marker}"))
