"""A 200 MB upload streams from disk: the client's memory does not grow with the file."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import ROOT, Server

SIZE = 200 * 1024 * 1024
# Peak RSS may grow by this much at most during the upload (the file is 200 MiB).
MAX_GROWTH = 8 * 1024 * 1024


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # nothing here is the database's
def test_a_200_mb_upload_does_not_grow_the_clients_memory(
    server: Server, key: str, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as fh:
        fh.truncate(SIZE)  # sparse: 200 MiB of zeros that take no disk here
        fh.seek(SIZE // 2)
        fh.write(b"middle")  # something that must arrive in its place
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)

    probe = subprocess.run(
        [sys.executable, "-m", "tests.integration.client.rss_probe", server.url, key, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)
    assert result["bytes"] == SIZE and result["sha256"] == digest.hexdigest()
    growth = result["after"] - result["before"]
    assert growth <= MAX_GROWTH, f"peak RSS grew by {growth / 2**20:.1f} MiB"
    with server.client(key) as c:
        assert c.delete(f"/v1/files/{result['id']}").status_code == 204
