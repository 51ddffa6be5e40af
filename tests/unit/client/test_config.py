"""Where the client finds its key and URL, and the login file (0600, in a 0700 directory)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pyexec_client import ConfigurationError, PyExec
from pyexec_client._config import (
    DEFAULT_BASE_URL,
    Login,
    config_path,
    forget_login,
    normalize_base_url,
    read_login,
    resolve,
    write_login,
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}


def test_login_file_is_private(env: dict[str, str]) -> None:
    path = write_login(Login(base_url="https://a.example", api_key="pyex_secret"), env)
    assert path == Path(env["XDG_CONFIG_HOME"]) / "pyexec" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_login(env) == Login(base_url="https://a.example", api_key="pyex_secret")
    # Written again over a file someone opened up: private again.
    path.chmod(0o644)
    write_login(Login(base_url="https://b.example", api_key="pyex_other"), env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob("*.tmp"))
    assert forget_login(env) and not path.exists() and not forget_login(env)


def test_argument_beats_environment_beats_login_beats_default(env: dict[str, str]) -> None:
    assert resolve(env=env) == resolve(None, None, env)
    nothing = resolve(env=env)
    assert (nothing.api_key, nothing.base_url) == (None, DEFAULT_BASE_URL)
    write_login(Login(base_url="https://stored.example", api_key="pyex_stored"), env)
    stored = resolve(env=env)
    assert (stored.api_key, stored.base_url) == ("pyex_stored", "https://stored.example")
    assert stored.api_key_source == str(config_path(env))
    env.update(PYEXEC_API_KEY="pyex_env", PYEXEC_BASE_URL="https://env.example/")
    from_env = resolve(env=env)
    assert (from_env.api_key, from_env.base_url) == ("pyex_env", "https://env.example")
    assert from_env.api_key_source == "PYEXEC_API_KEY"
    given = resolve("pyex_arg", "http://arg.example:8000/v1", env)
    assert (given.api_key, given.base_url) == ("pyex_arg", "http://arg.example:8000")


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("https://h.example/v1", "https://h.example"),
        ("https://h.example/pyexec/v1/", "https://h.example/pyexec"),
        (" https://h.example ", "https://h.example"),
    ],
)
def test_base_url_with_or_without_v1(url: str, normal: str) -> None:
    assert normalize_base_url(url) == normal


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://h.example", "https://", "https://h/?a=1"])
def test_a_base_url_that_is_not_one_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="base URL"):
        normalize_base_url(url)


def test_a_broken_login_file_says_so(env: dict[str, str]) -> None:
    path = config_path(env)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="pyexec login"):
        read_login(env)


def test_no_key_anywhere_is_a_clear_error(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYEXEC_API_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", env["XDG_CONFIG_HOME"])
    monkeypatch.setenv("HOME", env["HOME"])
    with pytest.raises(ConfigurationError, match="PYEXEC_API_KEY"):
        PyExec()


def test_the_key_stays_out_of_the_repr() -> None:
    client = PyExec(api_key="pyex_" + "s" * 40, base_url="http://127.0.0.1:9")
    assert "sss" not in repr(client)
    client.close()
