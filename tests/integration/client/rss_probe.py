"""Run alone (`python -m tests.integration.client.rss_probe URL KEY PATH`): upload PATH with the
SDK, print JSON with the process's peak RSS before and after. Imports nothing of the server."""

from __future__ import annotations

import io
import json
import resource
import sys

from pyexec_client import PyExec


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def main() -> None:
    url, key, path = sys.argv[1:4]
    with PyExec(api_key=key, base_url=url) as client:
        # A small upload first: imports, the connection pool and a 1 MiB chunk buffer are
        # what any upload costs; the question is what the size of the file adds.
        client.files.upload(io.BytesIO(b"x" * (1 << 20)), filename="warm-up.bin")
        before = peak_rss_bytes()
        uploaded = client.files.upload(path)
        after = peak_rss_bytes()
    json.dump({"before": before, "after": after, **uploaded.to_dict()}, sys.stdout)


if __name__ == "__main__":
    main()
