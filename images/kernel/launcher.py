"""A kernel pod's first process: start an IPython kernel and hand it to Enterprise Gateway.

Enterprise Gateway (EG) starts a kernel pod through the `pyexec-python-k8s` kernelspec with
`KERNEL_ID`, `RESPONSE_ADDRESS` (its ip:port), `PUBLIC_KEY` and `PORT_RANGE` in the
environment, then waits for the pod to report its kernel's connection. This process:

1. picks five free ports (inside `PORT_RANGE`, which the kernels' NetworkPolicy admits) and
   writes the kernel's connection file with a fresh signing key;
2. starts `python -m ipykernel_launcher` on it as its child;
3. opens the communication port on which EG sends signals and the shutdown request;
4. sends EG the connection (ports, key, pid, comm port, kernel id) as EG's launcher protocol,
   version 1, wants it: JSON encrypted with AES-128-ECB under a fresh key, that key encrypted
   with EG's RSA public key (PKCS #1 v1.5), all base64;
5. serves the communication port: `{"signum": N}` signals the kernel (0 only asks whether it
   lives), `{"shutdown": 1}` ends the listener; exits when the kernel exits, with its status.

SIGTERM (the pod deleted) is passed on to the kernel. The kernel's environment is this one
less what only the launch needs.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import load_der_public_key

PROTOCOL_VERSION = 1
CHANNELS = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")
CONNECT_TIMEOUT_SECONDS = 30.0  # sending the connection to EG's response port
COMM_READ_TIMEOUT_SECONDS = 5.0  # one request on the communication port
PORT_ATTEMPTS = 50
# Read by this launcher only; the kernel gets the rest of the environment.
LAUNCH_ONLY_ENV = ("PUBLIC_KEY", "RESPONSE_ADDRESS", "PORT_RANGE", "EG_RESPONSE_ADDRESS")

log = logging.getLogger("pyexec-kernel-launcher")


class LaunchError(RuntimeError):
    """The pod's environment or network does not allow the launch; the message says why."""


@dataclass(frozen=True)
class LaunchRequest:
    kernel_id: str
    response_host: str
    response_port: int
    public_key: str  # base64 DER, as EG puts it on the command line
    ports: range | None  # None: any free port

    @classmethod
    def from_env(cls, env: dict[str, str]) -> LaunchRequest:
        missing = [n for n in ("KERNEL_ID", "RESPONSE_ADDRESS", "PUBLIC_KEY") if not env.get(n)]
        if missing:
            raise LaunchError(f"missing environment: {', '.join(missing)} (set by the gateway)")
        host, sep, port = env["RESPONSE_ADDRESS"].rpartition(":")
        if not sep or not host or not port.isdigit():
            raise LaunchError(f"RESPONSE_ADDRESS must be ip:port, got {env['RESPONSE_ADDRESS']!r}")
        return cls(
            kernel_id=env["KERNEL_ID"],
            response_host=host,
            response_port=int(port),
            public_key=env["PUBLIC_KEY"],
            ports=parse_port_range(env.get("PORT_RANGE", "")),
        )


def parse_port_range(text: str) -> range | None:
    """`"40000..40999"` -> range(40000, 41000); empty or `0..0` -> None (any port)."""
    if not text or text == "0..0":
        return None
    low, sep, high = text.partition("..")
    if not sep or not low.isdigit() or not high.isdigit() or not 0 < int(low) < int(high) < 65536:
        raise LaunchError(f"PORT_RANGE must be LOW..HIGH, got {text!r}")
    return range(int(low), int(high) + 1)


def bind_free(ports: range | None) -> socket.socket:
    """A TCP socket bound on all addresses to a free port of `ports`."""
    for _ in range(PORT_ATTEMPTS if ports else 1):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("0.0.0.0", random.choice(ports) if ports else 0))
            return sock
        except OSError:
            sock.close()
    raise LaunchError(f"no free port in {ports.start}..{ports.stop - 1}")  # type: ignore[union-attr]


def write_connection_file(path: Path, ports: range | None) -> dict[str, object]:
    held = [bind_free(ports) for _ in CHANNELS]
    info: dict[str, object] = {
        name: sock.getsockname()[1] for name, sock in zip(CHANNELS, held, strict=True)
    }
    for sock in held:  # the kernel binds them next
        sock.close()
    info |= {
        "ip": "0.0.0.0",
        "transport": "tcp",
        "signature_scheme": "hmac-sha256",
        "key": secrets.token_hex(32),
        "kernel_name": "",
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(info, out)
    return info


def encrypt(connection: dict[str, object], public_key_b64: str) -> bytes:
    """EG's launcher payload, version 1."""
    aes_key = secrets.token_bytes(16)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(json.dumps(connection).encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), modes.ECB()).encryptor()  # EG's choice of mode
    sealed = encryptor.update(plain) + encryptor.finalize()
    public_key = load_der_public_key(base64.b64decode(public_key_b64))
    if not isinstance(public_key, RSAPublicKey):
        raise LaunchError("PUBLIC_KEY is not an RSA key")
    wrapped_key = public_key.encrypt(aes_key, rsa_padding.PKCS1v15())
    payload = {
        "version": PROTOCOL_VERSION,
        "key": base64.b64encode(wrapped_key).decode(),
        "conn_info": base64.b64encode(sealed).decode(),
    }
    return base64.b64encode(json.dumps(payload).encode())


def send_connection(request: LaunchRequest, payload: bytes) -> None:
    address = (request.response_host, request.response_port)
    try:
        with socket.create_connection(address, timeout=CONNECT_TIMEOUT_SECONDS) as sock:
            sock.sendall(payload)
    except OSError as exc:
        raise LaunchError(f"cannot reach the gateway's response port {address}: {exc}") from exc


def serve_comm(sock: socket.socket, kernel: subprocess.Popen[bytes]) -> None:
    """Answer EG's requests until it asks to shut down or the kernel ends."""
    sock.listen(4)
    while kernel.poll() is None:
        conn, _ = sock.accept()
        with conn:
            conn.settimeout(COMM_READ_TIMEOUT_SECONDS)
            data = b""
            try:
                while chunk := conn.recv(4096):
                    data += chunk
                    if _complete(data):
                        break
            except TimeoutError:
                pass
        try:
            request = json.loads(data or b"{}")
        except ValueError:
            log.warning("ignored a request that is not JSON: %r", data[:200])
            continue
        signum = int(request.get("signum", -1))
        if signum > 0 and kernel.poll() is None:
            log.info("signal %d for the kernel", signum)
            kernel.send_signal(signum)
        if request.get("shutdown"):
            log.info("shutdown requested by the gateway")
            return


def _complete(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def kernel_env(env: dict[str, str]) -> dict[str, str]:
    kept = {k: v for k, v in env.items() if k not in LAUNCH_ONLY_ENV}
    kept["JPY_PARENT_PID"] = str(os.getpid())  # the kernel exits if this launcher dies
    return kept


def launch(env: dict[str, str]) -> int:
    request = LaunchRequest.from_env(env)
    runtime = Path(env.get("JUPYTER_RUNTIME_DIR", "/tmp"))
    runtime.mkdir(parents=True, exist_ok=True)
    connection_file = runtime / f"kernel-{request.kernel_id}.json"
    connection = write_connection_file(connection_file, request.ports)
    work_dir = env.get("KERNEL_WORKING_DIR")
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection_file)]
    kernel = subprocess.Popen(
        [*argv, "--HistoryManager.hist_file=:memory:"],
        env=kernel_env(env),
        cwd=work_dir or None,
    )
    signal.signal(signal.SIGTERM, lambda signum, _frame: kernel.send_signal(signum))
    comm = bind_free(request.ports)
    connection |= {
        "pid": kernel.pid,
        "pgid": os.getpgid(kernel.pid),
        "comm_port": comm.getsockname()[1],
        "kernel_id": request.kernel_id,
    }
    send_connection(request, encrypt(connection, request.public_key))
    log.info("kernel %s started (pid %d), connection sent", request.kernel_id, kernel.pid)
    listener = threading.Thread(target=serve_comm, args=(comm, kernel), daemon=True)
    listener.start()
    status = kernel.wait()
    connection_file.unlink(missing_ok=True)
    log.info("kernel %s exited with %d", request.kernel_id, status)
    return 128 - status if status < 0 else status


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("LAUNCHER_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return launch(dict(os.environ))
    except LaunchError as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
