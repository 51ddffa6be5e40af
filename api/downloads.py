"""How downloads are named and served: `<title-slug>-<short id>` and safe response headers."""

from __future__ import annotations

import re
from urllib.parse import quote

from pyexec.core.models import Job

# Bytes a job or a user wrote must never run as script on the API's origin, whatever their
# media type: the browser may not sniff, and a page opened directly is sandboxed.
UNTRUSTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}
# The notebook page: its own inline styles and data: images, and no script at all.
HTML_PAGE_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"
)


def download_name(job: Job) -> str:
    """`<title-slug>-<first 8 of the id>`, e.g. `sales-data-analysis-a1b2c3d4`."""
    slug = re.sub(r"[^a-z0-9]+", "-", job.title.lower()).strip("-")[:60].strip("-") or "job"
    return f"{slug}-{job.id[:8]}"


def content_disposition(filename: str, kind: str = "attachment") -> str:
    """RFC 6266: an ASCII fallback for old clients, the exact UTF-8 name for the rest."""
    ascii_name = filename.encode("ascii", "ignore").decode() or "download"
    ascii_name = re.sub(r'["\\\x00-\x1f\x7f]', "_", ascii_name)
    if ascii_name == filename:
        return f'{kind}; filename="{filename}"'
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
