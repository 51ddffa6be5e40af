"""What the service leaves on disk and in its logs, and says about itself: private files, a
demo key never written into a log after it was made, no query strings in the access log, no
`server` header."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Server, run_job


@pytest.fixture(scope="module")
def started_twice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = Path(tmp_path_factory.mktemp("hygiene")) / "data"
    data_dir.mkdir()
    # What an older version left: a world-readable file in the data dir.
    (data_dir / "old-notes.txt").write_text("private")
    (data_dir / "old-notes.txt").chmod(0o644)
    server = Server(data_dir, {"PYEXEC_LOG_LEVEL": "info"}).start()
    server.stop()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_demo_key_is_printed_when_made_and_never_again_into_a_log(
    started_twice: Server,
) -> None:
    key = (started_twice.data_dir / "demo-api-key").read_text().strip()
    log = started_twice.log_path.read_text()
    assert log.count(key) == 2  # the first start's key line and its curl example
    assert f"Demo API key: in {started_twice.data_dir / 'demo-api-key'}" in log
    # The dashboard's one-time link likewise: made and shown at the first start only.
    assert log.count("/signin/link?token=") == 1
    assert "a one-time sign-in link is printed on a terminal" in log
    assert len(started_twice.rows("SELECT token_hash FROM sign_in_links")) == 1


def test_everything_in_the_data_dir_is_the_services_alone(started_twice: Server) -> None:
    data_dir = started_twice.data_dir
    with started_twice.client((data_dir / "demo-api-key").read_text().strip()) as c:
        job = run_job(c, {"code": "open('out.csv', 'w').write('a\\n1\\n')"})
        assert job["status"] == "completed" and job["artifacts"], job
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o711  # crossed by kernels, listed by none
    # os.walk, and lstat allowed to miss: the service may still be landing a file by
    # write-then-rename (a notebook, SQLite's journal) while this looks.
    for root, dirs, files in os.walk(data_dir):
        if Path(root) == data_dir:
            dirs[:] = [d for d in dirs if d != "work"]
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            mode = stat.S_IMODE(st.st_mode)
            assert mode & 0o077 == 0, f"{os.path.join(root, name)} is {oct(mode)}"


def test_the_access_log_has_paths_without_query_strings_and_no_server_header(
    started_twice: Server,
) -> None:
    key = (started_twice.data_dir / "demo-api-key").read_text().strip()
    secret = "pyex_" + "s" * 40
    response = httpx.get(
        f"{started_twice.url}/v1/jobs",
        params={"limit": 1, "api_key": secret},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200
    assert "server" not in response.headers
    log = started_twice.log_path.read_text()
    assert secret not in log
    assert "GET /v1/jobs 200" in log and response.headers["x-request-id"] in log
