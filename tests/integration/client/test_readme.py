"""The SDK examples of the READMEs run as written, against the real server."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from tests.support.servers import ROOT, Server

SALES = "region,units,revenue\nnorth,3,30.5\nsouth,5,52.0\nnorth,7,71.25\neast,1,9.99\n"


def sdk_example(readme: Path) -> str:
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    return next(b for b in blocks if "from pyexec_client import PyExec" in b)


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
@pytest.mark.parametrize("readme", ["README.md", "clients/python/README.md"])
def test_the_sdk_example_works_as_written(
    server: Server, key: str, readme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYEXEC_BASE_URL", server.url)
    monkeypatch.setenv("PYEXEC_API_KEY", key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "sales.csv").write_text(SALES)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(sdk_example(ROOT / readme), readme, "exec"), {})
    assert "40.935" in out.getvalue()  # the mean revenue, from the result or the table
    [notebook] = tmp_path.glob("calculate-the-mean-*.ipynb")
    assert notebook.stat().st_size > 0
