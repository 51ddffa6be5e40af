"""The dashboard's settings: validated at start-up, a bad value names its variable."""

from __future__ import annotations

import pytest

from pyexec.core.passwords import (
    WeakPasswordError,
    check_new_password,
    hash_password,
    verify_password,
)
from pyexec.core.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://pyexec.example.com", "https://pyexec.example.com"),
        ("https://pyexec.example.com/", "https://pyexec.example.com"),
        ("http://10.0.0.5:8000", "http://10.0.0.5:8000"),
        ("", None),
    ],
)
def test_public_url_is_an_origin(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("PYEXEC_PUBLIC_URL", value)
    assert load_settings().public_url == expected


@pytest.mark.parametrize(
    "value", ["pyexec.example.com", "ftp://example.com", "https://example.com/pyexec", "https://"]
)
def test_a_bad_public_url_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PYEXEC_PUBLIC_URL", value)
    with pytest.raises(SettingsError, match="PYEXEC_PUBLIC_URL"):
        load_settings()


def test_sign_up_is_closed_unless_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYEXEC_SIGNUP", raising=False)
    assert load_settings().signup == "closed"
    monkeypatch.setenv("PYEXEC_SIGNUP", "maybe")
    with pytest.raises(SettingsError, match="PYEXEC_SIGNUP"):
        load_settings()
    monkeypatch.setenv("PYEXEC_SIGNIN_IP_ATTEMPTS", "0")
    monkeypatch.setenv("PYEXEC_SIGNUP", "open")
    with pytest.raises(SettingsError, match="PYEXEC_SIGNIN_IP_ATTEMPTS"):
        load_settings()


def test_passwords_are_argon2id_and_checked() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")
    assert not verify_password(None, "anything at all")
    assert not verify_password(stored, "x" * 5000)
    for weak, message in (
        ("short", "at least 10"),
        (" " * 12, "only spaces"),
        ("me@example.com", "email"),
        ("y" * 1025, "at most 1024"),
    ):
        with pytest.raises(WeakPasswordError, match=message):
            check_new_password(weak, "me@example.com")
