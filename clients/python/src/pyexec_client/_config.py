"""Where the client finds its API key and base URL, and the file `pyexec login` keeps them in.

An argument wins, then the environment (`PYEXEC_API_KEY`, `PYEXEC_BASE_URL`), then the login
file, then the default URL of a local `make run` (`http://127.0.0.1:8000`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pyexec_client._errors import ConfigurationError

API_KEY_ENV = "PYEXEC_API_KEY"
BASE_URL_ENV = "PYEXEC_BASE_URL"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class Login:
    """What `pyexec login` stored (either part may be missing)."""

    base_url: str | None = None
    api_key: str | None = None


@dataclass(frozen=True)
class Resolved:
    api_key: str | None
    base_url: str
    # Where each came from, for `pyexec login --show` and error messages.
    api_key_source: str
    base_url_source: str


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The user's config directory for PyExec, as each platform has it."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "win32":
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "pyexec"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "pyexec"
    xdg = env.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config") / "pyexec"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / CONFIG_FILE


def read_login(env: Mapping[str, str] | None = None) -> Login:
    path = config_path(env)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Login()
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}; run `pyexec login` again") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} is not a PyExec login file; run `pyexec login` again")
    return Login(
        base_url=_str_or_none(data.get("base_url")), api_key=_str_or_none(data.get("api_key"))
    )


def write_login(login: Login, env: Mapping[str, str] | None = None) -> Path:
    """Store the login readable by its owner only (0600, in a 0700 directory), atomically."""
    path = config_path(env)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {k: v for k, v in (("base_url", login.base_url), ("api_key", login.api_key)) if v}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Created 0600 from the start: the key is never readable by others, not even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o600)  # O_CREAT's mode does not apply to a file left by a crash
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


def forget_login(env: Mapping[str, str] | None = None) -> bool:
    """Delete the login file; whether there was one."""
    try:
        config_path(env).unlink()
    except FileNotFoundError:
        return False
    return True


def resolve(
    api_key: str | None = None,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Resolved:
    env = os.environ if env is None else env
    login: Login | None = None

    def stored() -> Login:
        nonlocal login
        if login is None:
            login = read_login(env)
        return login

    key, key_source = api_key, "argument"
    if not key:
        key, key_source = env.get(API_KEY_ENV) or None, API_KEY_ENV
    if not key:
        key, key_source = stored().api_key, str(config_path(env))
    url, url_source = base_url, "argument"
    if not url:
        url, url_source = env.get(BASE_URL_ENV) or None, BASE_URL_ENV
    if not url:
        url, url_source = stored().base_url, str(config_path(env))
    if not url:
        url, url_source = DEFAULT_BASE_URL, "default"
    return Resolved(
        api_key=key.strip() if key else None,
        base_url=normalize_base_url(url),
        api_key_source=key_source if key else "none",
        base_url_source=url_source,
    )


def normalize_base_url(url: str) -> str:
    """`https://host/` and `https://host/v1` both mean the server at `https://host`."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"base URL {url!r} is not an http(s) URL; e.g. https://pyexec.example.com"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"base URL {url!r} must not have a query or fragment")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
