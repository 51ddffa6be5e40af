"""What a file is called and what it contains: safe filenames and media types.

Shared by the files API (uploads) and the worker (artifacts a job writes).
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

__all__ = [
    "DEFAULT_FILENAME",
    "MAX_FILENAME_BYTES",
    "detect_media_type",
    "human_bytes",
    "media_type_from_name",
    "sanitize_filename",
]

MAX_FILENAME_BYTES = 255  # what ext4, APFS and NTFS all accept
DEFAULT_FILENAME = "file"
OCTET_STREAM = "application/octet-stream"
# How much of a file's start is enough to recognise it.
SNIFF_BYTES = 8192

# Characters Windows refuses in names: a bundle unzipped there must keep every file.
_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')

# Only Python's built-in table, not /etc/mime.types: the answer must not depend on the host.
_TYPES = mimetypes.MimeTypes(filenames=())
for _type, _ext in (
    ("text/csv", ".csv"),
    ("text/tab-separated-values", ".tsv"),
    ("text/markdown", ".md"),
    ("application/json", ".json"),
    ("application/x-ndjson", ".jsonl"),
    ("application/x-ndjson", ".ndjson"),
    ("application/x-ipynb+json", ".ipynb"),
    ("application/vnd.apache.parquet", ".parquet"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    ("application/vnd.ms-excel", ".xls"),
    ("application/x-sqlite3", ".sqlite"),
    ("application/x-sqlite3", ".db"),
    ("application/x-feather", ".feather"),
    ("application/yaml", ".yaml"),
    ("application/yaml", ".yml"),
    ("text/plain", ".log"),
    ("image/webp", ".webp"),
):
    _TYPES.add_type(_type, _ext)

# Signatures win over the name: a PNG called data.csv is a PNG.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"\x1f\x8b", "application/gzip"),
    (b"BZh", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"PAR1", "application/vnd.apache.parquet"),
    (b"SQLite format 3\x00", "application/x-sqlite3"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/vnd.ms-excel"),
)
# Zip is the container of xlsx, docx, ...: trust the extension for what is inside.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_ZIP_FAMILY = {
    "application/zip",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


def sanitize_filename(raw: str | None) -> str:
    """A name safe to place in a job's working directory and in a zip.

    No directory parts (`../../etc/passwd` → `passwd`, `C:\\x\\y.csv` → `y.csv`), no control
    or invisible formatting characters, no leading dots (no hidden files, no `..`), no
    characters Windows refuses, at most 255 UTF-8 bytes with the extension kept. What is
    left when nothing usable remains is `file`.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    # Cc: control, Cf: format (bidi overrides that disguise extensions), Cs/Co/Cn: not text.
    name = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in name
        if unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn"} or ch in "\t\r\n"
    )
    name = _WINDOWS_RESERVED.sub("_", name)
    name = " ".join(name.split())
    name = name.lstrip(". ").rstrip(". ")
    name = _limit_bytes(name, MAX_FILENAME_BYTES)
    return name or DEFAULT_FILENAME


def _limit_bytes(name: str, limit: int) -> str:
    if len(name.encode()) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext.encode()) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = limit - len(suffix.encode())
    cut = stem.encode()[:budget].decode(errors="ignore").rstrip(". ")
    return f"{cut}{suffix}"


def media_type_from_name(filename: str) -> str | None:
    return _TYPES.guess_type(filename, strict=False)[0]


def detect_media_type(filename: str, head: bytes, declared: str | None = None) -> str:
    """The media type of a file from its first bytes, its name, then what the client said.

    `head` is the file's first `SNIFF_BYTES` (fewer for a short file).
    """
    by_name = media_type_from_name(filename)
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    if head.startswith(_ZIP_MAGIC):
        return by_name if by_name in _ZIP_FAMILY else "application/zip"
    if by_name is not None:
        return by_name
    declared = (declared or "").split(";")[0].strip().lower()
    if declared and declared != OCTET_STREAM and re.fullmatch(r"[\w.+-]+/[\w.+-]+", declared):
        return declared
    if _looks_like_text(head):
        return "text/plain"
    return OCTET_STREAM


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sniffed window may end inside a multi-byte character.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def human_bytes(n: int) -> str:
    """`10 MB`, `1.5 KB`, `512 bytes` (binary units, as the limits are set)."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"
