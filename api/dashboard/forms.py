"""Reading a page's form: url-encoded only, and refused once it passes a size.

Starlette's `request.form()` would buffer a url-encoded body of any size (and spool a
multipart one to disk) before anyone could refuse it, and the sign-in forms take bodies from
people who are not signed in. Uploads never come here: they stream through `api.uploads`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import ClientDisconnect, Request

from pyexec.api.errors import InvalidRequest, PayloadTooLarge
from pyexec.core.files import human_bytes

# The largest form a page posts: a job's code of 1 MB, percent-encoded (up to 3x), and room
# for the prompt and the other fields; the same bound as the API's JSON bodies.
MAX_FORM_BYTES = 4 * 1024 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> FormData:
    """The request's url-encoded fields (none without a body); 413 past `limit` bytes, 400
    for a body of another type."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type != FORM_TYPE:
        raise InvalidRequest("The form was not sent as a web form; reload the page and try again.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _too_large(limit)
    except ClientDisconnect:
        raise InvalidRequest("The form was cut off before it arrived; try again.") from None
    fields: list[tuple[str, str | UploadFile]] = [
        *parse_qsl(body.decode(errors="replace"), keep_blank_values=True, errors="replace")
    ]
    return FormData(fields)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The form is over {human_bytes(limit)}; code may be at most 1,000,000 bytes. "
        "Upload data as files instead."
    )
