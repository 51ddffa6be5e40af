from __future__ import annotations

import pytest

from pyexec.core.files import MAX_FILENAME_BYTES, detect_media_type, human_bytes, sanitize_filename

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sales.csv", "sales.csv"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("C:\\Users\\ana\\Q1 report.xlsx", "Q1 report.xlsx"),
        ("/abs/path/data.json", "data.json"),
        (".bashrc", "bashrc"),
        ("...hidden.csv", "hidden.csv"),
        ("..", "file"),
        (".", "file"),
        ("", "file"),
        (None, "file"),
        ("a\x00b\x07c.csv", "abc.csv"),
        ("line\nbreak\r\ttab.csv", "line break tab.csv"),
        # A right-to-left override would show "report_fdp.exe" as "report_exe.pdf".
        ("report_\u202efdp.exe", "report_fdp.exe"),
        ('what?<is>:"this"|*.csv', "what__is___this___.csv"),
        ("  spaced name .csv  ", "spaced name .csv"),
        ("trailing dots...", "trailing dots"),
        ("données été.csv", "données été.csv"),
        ("cafe\u0301.csv", "café.csv"),  # NFC: one code point, as macOS users type it too
    ],
)
def test_filenames_are_sanitised(raw: str | None, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_long_names_keep_their_extension_within_255_bytes() -> None:
    name = sanitize_filename("é" * 300 + ".parquet")
    assert len(name.encode()) <= MAX_FILENAME_BYTES
    assert name.endswith(".parquet") and name.startswith("éé")
    plain = sanitize_filename("x" * 400)
    assert plain == "x" * MAX_FILENAME_BYTES


@pytest.mark.parametrize(
    ("filename", "head", "declared", "expected"),
    [
        ("sales.csv", b"a,b\n1,2\n", "application/octet-stream", "text/csv"),
        ("data.tsv", b"a\tb\n", None, "text/tab-separated-values"),
        ("x.json", b"{}", None, "application/json"),
        ("x.parquet", b"PAR1\x15\x04", None, "application/vnd.apache.parquet"),
        ("plot.csv", b"\x89PNG\r\n\x1a\n....", None, "image/png"),
        ("book.xlsx", b"PK\x03\x04rest", None, XLSX),
        ("archive.bin", b"PK\x03\x04rest", None, "application/zip"),
        ("noext", b"just some words\n", None, "text/plain"),
        ("noext", b"\x00\x01\x02\xff", None, "application/octet-stream"),
        ("noext", b"\x00\x01\x02\xff", "application/x-custom", "application/x-custom"),
        ("noext", b"", None, "application/octet-stream"),
        ("empty.csv", b"", None, "text/csv"),
        # A UTF-8 text whose sniffed window ends inside a character is still text.
        ("noext", "é".encode() * 10 + "é".encode()[:1], None, "text/plain"),
        ("latin1", "température".encode("latin-1"), None, "application/octet-stream"),
    ],
)
def test_media_type_from_content_then_name_then_client(
    filename: str, head: bytes, declared: str | None, expected: str
) -> None:
    assert detect_media_type(filename, head, declared) == expected


def test_human_bytes() -> None:
    assert human_bytes(10 * 1024 * 1024) == "10 MB"
    assert human_bytes(1536) == "1.5 KB"
    assert human_bytes(12) == "12 bytes"
