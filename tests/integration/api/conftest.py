from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.llm_server import ScriptedLLM
from tests.support.servers import Server

# The dashboard's own server (SQLite, its model scripted): sign-up open, small sign-in limits
# (cheap to reach), two open event streams per account, and a free plan that takes uploads of
# at most 2,000 bytes and stores at most 5,000.
DASHBOARD_ENV = {
    "PYEXEC_SIGNUP": "open",
    "PYEXEC_MAX_OPEN_STREAMS_PER_ACCOUNT": "2",
    "PYEXEC_SIGNIN_ACCOUNT_ATTEMPTS": "3",
    "PYEXEC_SIGNIN_IP_ATTEMPTS": "5",
    "PYEXEC_PLANS": json.dumps({"free": {"max_upload_bytes": 2000, "max_storage_bytes": 5000}}),
}


@pytest.fixture(scope="session")
def dashboard_llm() -> Iterator[ScriptedLLM]:
    """The dashboard server's model: only the model is scripted."""
    llm = ScriptedLLM().start()
    try:
        yield llm
    finally:
        llm.stop()


@pytest.fixture(scope="session")
def dashboard_server(
    tmp_path_factory: pytest.TempPathFactory, dashboard_llm: ScriptedLLM
) -> Iterator[Server]:
    env = {
        **DASHBOARD_ENV,
        "OPENAI_BASE_URL": dashboard_llm.url,
        "OPENAI_API_KEY": "scripted",
        "PYEXEC_LLM_MODEL": "scripted",
    }
    srv = Server(Path(tmp_path_factory.mktemp("dashboard")), env_overrides=env).start()
    try:
        yield srv
    finally:
        srv.stop()
