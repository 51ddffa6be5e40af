from pathlib import Path

import pytest

from pyexec.kernels.env import build_kernel_env, prepend_path


def test_env_is_built_from_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/x")
    monkeypatch.setenv("PYEXEC_DATA_DIR", "/data")
    monkeypatch.setenv("MPLBACKEND", "Agg")

    env = build_kernel_env(tmp_path)

    assert set(env) == {
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "LC_ALL",
        "PYTHONUNBUFFERED",
        "PYTHONNOUSERSITE",
    }
    assert env["HOME"] == str(tmp_path)
    assert env["TMPDIR"].startswith(str(tmp_path))
    assert env["LANG"] == env["LC_ALL"] == "C.UTF-8"


def test_extra_variables_are_added(tmp_path: Path) -> None:
    env = build_kernel_env(tmp_path, extra={"OMP_NUM_THREADS": "1"})
    assert env["OMP_NUM_THREADS"] == "1"


def test_prepend_path_puts_directory_first_once() -> None:
    env = prepend_path({"PATH": "/usr/bin:/venv/bin:/bin"}, "/venv/bin")
    assert env["PATH"] == "/venv/bin:/usr/bin:/bin"
