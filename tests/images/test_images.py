"""The images, built with podman from Debian's packages and PyPI, and run as they run in a cluster.

`make test-images` (also run by `.ci/run`) builds both images with `images/build.sh` (cached
layers make a rebuild take minutes) and then: the API image serves `pyexec serve` on SQLite
with a read-only root, answers `/readyz` and completes a code job; `pyexec migrate` works;
the kernel image runs a cell with every data library, and its launcher hands a kernel to a
gateway by Enterprise Gateway's protocol (encrypted connection, signals, shutdown).
"""

from __future__ import annotations

import base64
import json
import queue
import re
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from tests.support.podman import API_IMAGE, KERNEL_IMAGE, LIMITS, podman, running
from tests.support.servers import free_port
from tests.support.services import RedisServer

pytestmark = pytest.mark.timeout(1800)

READY_TIMEOUT_SECONDS = 240.0
JOB_WAIT_SECONDS = 60
KERNEL_READY_SECONDS = 120.0
# The container as a pod runs it: read-only root, private /tmp, the data dir a volume.
POD_LIKE = [
    "--read-only", "--tmpfs", "/tmp:rw,mode=1777",
    "--volume", "/var/lib/pyexec",  # anonymous: podman copies the image's dir (owner 10001) up
]  # fmt: skip
KERNEL_POD_LIKE = [
    "--read-only", "--network", "host", "--tmpfs", "/tmp:rw,mode=1777",
    "--volume", "/work",
]  # fmt: skip


def test_api_image_runs_as_non_root_without_compilers() -> None:
    config = json.loads(podman("image", "inspect", API_IMAGE).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["tini", "--", "pyexec-server"]
    found = podman(
        "run", "--rm", *LIMITS, "--entrypoint", "sh", API_IMAGE, "-c",
        "for c in gcc cc c++ make ld; do command -v $c; done; true",
    ).stdout  # fmt: skip
    assert found.strip() == ""


def test_migrate_brings_an_empty_database_to_the_latest_schema() -> None:
    proc = podman("run", "--rm", *LIMITS, *POD_LIKE, API_IMAGE, "migrate")
    assert "database is at the latest schema" in proc.stdout


def test_api_image_serves_a_code_job() -> None:
    port = free_port()
    options = [
        *POD_LIKE, "--publish", f"127.0.0.1:{port}:8000",
        # No namespaces or bubblewrap inside a container: kernels are isolated by the
        # container itself, so the sandbox is turned off explicitly (docs/deploy/kubernetes.md).
        "--env", "PYEXEC_KERNEL_SANDBOX=off", "--env", "PYEXEC_KERNEL_POOL_SIZE=1",
    ]  # fmt: skip
    with running(API_IMAGE, ["serve"], options) as container:
        url = f"http://127.0.0.1:{port}"
        ready = _wait_ready(url, container.logs)
        assert ready["checks"] == {"database": True, "queue": True, "kernel_pool": True}
        key = re.search(r"Demo API key: (pyex_\S+)", container.logs())
        assert key, container.logs()
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        code = (
            "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})\n"
            "df.to_parquet('a.parquet')\nprint(pd.read_parquet('a.parquet')['a'].sum())\ndf"
        )
        with httpx.Client(base_url=url, headers=headers, timeout=JOB_WAIT_SECONDS + 30) as client:
            created = client.post("/v1/jobs", json={"code": code, "title": "in a container"})
            assert created.status_code == 201, created.text
            job = client.get(f"/v1/jobs/{created.json()['id']}", params={"wait": JOB_WAIT_SECONDS})
            body = job.json()
            assert body["status"] == "completed", (body, container.logs())
            texts = [o["text"] for o in body["outputs"] if o["type"] == "text"]
            tables = [o for o in body["outputs"] if o["type"] == "table"]
            assert "6\n" in texts
            assert tables and tables[0]["total_rows"] == 3
            assert [a["name"] for a in body["artifacts"]] == ["a.parquet"]
            notebook = client.get(f"/v1/jobs/{body['id']}/notebook")
            assert notebook.status_code == 200
            assert json.loads(notebook.content)["nbformat"] == 4


def _wait_ready(url: str, logs: Any) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/readyz", timeout=5)
            if answer.status_code == 200:
                return answer.json()
            last = answer.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(1)
    raise AssertionError(f"not ready after {READY_TIMEOUT_SECONDS} s: {last}\n{logs()}")


CELL = """
import ipykernel, matplotlib, numpy as np, openpyxl, pandas as pd, pyarrow, python_calamine
import matplotlib.pyplot as plt
df = pd.DataFrame({"x": np.arange(5), "y": np.arange(5) ** 2})
df.to_parquet("t.parquet"); df.to_excel("t.xlsx", index=False)
back = pd.read_parquet("t.parquet").equals(pd.read_excel("t.xlsx", engine="calamine"))
plt.plot(df.x, df.y); plt.savefig("t.png")
import os
print(ipykernel.__version__, matplotlib.get_backend(), back, int(df.y.sum()), os.getuid())
"""


def _wait_kernel_ready(client: BlockingKernelClient, timeout: float = KERNEL_READY_SECONDS) -> None:
    """A kernel_info reply on shell and then iopub traffic: both channels connected.

    Not `wait_for_ready()`: without a kernel manager it asks the heartbeat whether the kernel
    lives, and a kernel still importing in a loaded container has not beaten yet.
    """
    deadline = time.monotonic() + timeout
    client.kernel_info()
    while time.monotonic() < deadline:
        try:
            # Any kernel_info reply: a kernel still starting answers the queued requests late.
            if client.get_shell_msg(timeout=2)["msg_type"] != "kernel_info_reply":
                continue
            client.get_iopub_msg(timeout=1)  # a request's busy/idle: iopub is subscribed
            return
        except queue.Empty:
            client.kernel_info()
    raise AssertionError(f"the kernel did not answer kernel_info in {timeout} s")


def _run_cell(client: BlockingKernelClient, code: str, timeout: float = 60) -> tuple[str, dict]:
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

    reply = client.execute_interactive(code, timeout=timeout, output_hook=hook)
    return "".join(out), reply["content"]


def test_kernel_image_runs_a_cell(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    connection = tmp_path / "kernel.json"
    write_connection_file(
        str(connection), ip="127.0.0.1", key=secrets.token_hex(16).encode(),
        shell_port=free_port(), iopub_port=free_port(), stdin_port=free_port(),
        hb_port=free_port(), control_port=free_port(),
    )  # fmt: skip
    connection.chmod(0o644)  # the kernel runs as uid 10001
    options = [*KERNEL_POD_LIKE, "--volume", f"{tmp_path}:/conn:ro"]
    argv = ["python", "-m", "ipykernel_launcher", "-f", "/conn/kernel.json"]
    with running(KERNEL_IMAGE, argv, options) as container:
        client = BlockingKernelClient(connection_file=str(connection))
        client.load_connection_file()
        client.start_channels()
        try:
            _wait_kernel_ready(client)
            out, reply = _run_cell(client, CELL)
            assert reply["status"] == "ok", (out, container.logs())
            version, backend, round_trip, total, uid = out.split()
            assert version.startswith("6."), (
                "EG 3.3 needs ipykernel 6 (images/kernel/requirements.txt)"
            )
            assert (backend.lower(), round_trip, total, uid) == ("agg", "True", "30", "10001")
        finally:
            client.stop_channels()


class FakeGateway:
    """Enterprise Gateway's side of a kernel launch: the response port and the RSA key pair."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(KERNEL_READY_SECONDS)

    @property
    def public_key(self) -> str:
        der = self.key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.listener.getsockname()[1]}"

    def receive(self) -> dict[str, Any]:
        """The connection a launcher sent, decrypted as EG 3.3 does (payload version 1)."""
        conn, _ = self.listener.accept()
        with conn:
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
        payload = json.loads(base64.b64decode(data))
        assert payload["version"] == 1
        aes_key = self.key.decrypt(base64.b64decode(payload["key"]), rsa_padding.PKCS1v15())
        decryptor = Cipher(algorithms.AES(aes_key), modes.ECB()).decryptor()
        padded = decryptor.update(base64.b64decode(payload["conn_info"])) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return json.loads(unpadder.update(padded) + unpadder.finalize())


def _tell(port: int, request: dict[str, int]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(json.dumps(request).encode())
        sock.shutdown(socket.SHUT_WR)


def test_kernel_launcher_speaks_the_gateway_protocol() -> None:
    gateway = FakeGateway()
    kernel_id = "6a1c4f0e-2b7d-4c39-9e58-0f3d2a7b1c94"
    low = 40000 + secrets.randbelow(20000)
    options = [
        *KERNEL_POD_LIKE,
        "--env", f"KERNEL_ID={kernel_id}", "--env", f"RESPONSE_ADDRESS={gateway.address}",
        "--env", f"PUBLIC_KEY={gateway.public_key}", "--env", f"PORT_RANGE={low}..{low + 999}",
        "--env", "KERNEL_USERNAME=pyexec",
    ]  # fmt: skip
    with running(KERNEL_IMAGE, [], options) as container:  # the image's own command
        try:
            info = gateway.receive()
        except TimeoutError:
            raise AssertionError(container.logs()) from None
        assert info["kernel_id"] == kernel_id
        ports = [info[p] for p in ("shell_port", "iopub_port", "stdin_port", "hb_port")]
        assert all(low <= p <= low + 999 for p in [*ports, info["comm_port"]])
        client = BlockingKernelClient()
        client.load_connection_info({**info, "ip": "127.0.0.1"})
        client.start_channels()
        try:
            _wait_kernel_ready(client)
            out, reply = _run_cell(
                client, "import os; print(sorted(k for k in os.environ if 'KEY' in k))"
            )
            assert reply["status"] == "ok" and out.strip() == "[]", out  # PUBLIC_KEY stays out
            # An interrupt arrives as a signal over the launcher's communication port.
            msg_id = client.execute("import time; time.sleep(60)")
            time.sleep(2)
            _tell(info["comm_port"], {"signum": 2})
            reply = client.get_shell_msg(timeout=30)
            assert reply["parent_header"]["msg_id"] == msg_id
            assert reply["content"]["ename"] == "KeyboardInterrupt"
            _tell(info["comm_port"], {"signum": 0})  # the gateway's liveness poll: no effect
            out, reply = _run_cell(client, "print(6 * 7)")
            assert out.strip() == "42"
            client.shutdown()
            _tell(info["comm_port"], {"shutdown": 1})
            assert container.wait_exit(timeout=30) == 0, container.logs()
        finally:
            client.stop_channels()


def test_worker_runs_in_the_image_and_its_probe_sees_it() -> None:
    """`pyexec-server worker` (scaled out, on Redis) runs in the image; `pyexec-probe` is its
    probe."""
    redis = RedisServer().start()
    try:
        options = [
            *POD_LIKE, "--network", "host", "--entrypoint", "tini",
            "--env", f"REDIS_URL={redis.url}", "--env", "PYEXEC_KERNEL_SANDBOX=off",
            "--env", "PYEXEC_KERNEL_POOL_SIZE=1",
        ]  # fmt: skip
        script = "pyexec-server migrate && exec pyexec-server worker"
        with running(API_IMAGE, ["--", "sh", "-c", script], options) as container:
            deadline = time.monotonic() + READY_TIMEOUT_SECONDS
            while "ready:" not in container.logs():
                assert time.monotonic() < deadline, container.logs()
                time.sleep(1)
            probe = container.exec("pyexec-probe")
            assert probe.returncode == 0, (probe.stderr, container.logs())
    finally:
        redis.cleanup()


def test_probe_fails_without_a_worker() -> None:
    proc = podman("run", "--rm", *LIMITS, "--entrypoint", "pyexec-probe", API_IMAGE, check=False)
    assert proc.returncode == 1
    assert "not healthy" in proc.stderr
