"""Run inside a job's kernel: keep swapping the job's files for traps while the service
collects them (regular file <-> symlink to a secret, FIFO, /dev/zero; a folder <-> a symlink
to a folder of secrets; hard links to secrets where the kernel may make them).

The threads outlive the cell that starts them: the service collects a job's files after its
last cell, and only stopping the kernel first stops them. Harmless on a service that does.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

HARMLESS = "harmless data written by the job\n" * 4


def _put_file(name: str) -> None:
    with open(f".{name}.f", "w") as f:
        f.write(HARMLESS)
    os.replace(f".{name}.f", name)


def _swap_link(name: str, target: str, until: float) -> None:
    while time.monotonic() < until:
        _put_file(name)
        with contextlib.suppress(FileNotFoundError):
            os.remove(f".{name}.l")
        os.symlink(target, f".{name}.l")
        os.replace(f".{name}.l", name)


def _swap_fifo(name: str, until: float) -> None:
    while time.monotonic() < until:
        _put_file(name)
        with contextlib.suppress(FileNotFoundError):
            os.remove(f".{name}.p")
        os.mkfifo(f".{name}.p")
        os.replace(f".{name}.p", name)


def _swap_dir(name: str, target_dir: str, until: float) -> None:
    os.makedirs(f".{name}.real", exist_ok=True)
    with open(f".{name}.real/secret.txt", "w") as f:
        f.write(HARMLESS)
    while time.monotonic() < until:
        with contextlib.suppress(OSError):
            os.rename(f".{name}.real", name)
        with contextlib.suppress(OSError):
            os.rename(name, f".{name}.real")
        with contextlib.suppress(OSError):
            os.symlink(target_dir, name)
        with contextlib.suppress(OSError):
            os.remove(name)


def start(targets: dict[str, str], secret_dir: str, seconds: float = 60.0) -> list[str]:
    """Start the swapping threads; returns what the kernel could not set up (hard links)."""
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_swap_link, args=(name, target, until), daemon=True)
        for name, target in targets.items()
    ]
    threads.append(threading.Thread(target=_swap_fifo, args=("pipe.csv", until), daemon=True))
    threads.append(threading.Thread(target=_swap_dir, args=("out", secret_dir, until), daemon=True))
    refused = []
    for name, target in targets.items():
        try:
            os.link(target, f"hard-{name}")
        except OSError as exc:
            refused.append(f"{name}: {exc.strerror}")
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the swaps are under way when the cell ends
    return refused
