"""Every /v1 operation of the API and the SDK method that calls it: the one table that the
operations build their paths from, and that a test holds against the server's /openapi.json."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str
    # The SDK methods that call it, as `resource.method` on both PyExec and AsyncPyExec.
    sdk: tuple[str, ...]

    def path(self, **params: str) -> str:
        # An artifact's name may hold folders (`out/summary.csv`): its slashes stay.
        quoted = {k: quote(str(v), safe="/" if k == "name" else "") for k, v in params.items()}
        return self.template.format(**quoted)


CREATE_JOB = Endpoint("POST", "/v1/jobs", ("jobs.create",))
LIST_JOBS = Endpoint("GET", "/v1/jobs", ("jobs.list", "jobs.list_page"))
GET_JOB = Endpoint("GET", "/v1/jobs/{job_id}", ("jobs.get", "jobs.wait"))
DELETE_JOB = Endpoint("DELETE", "/v1/jobs/{job_id}", ("jobs.delete",))
CANCEL_JOB = Endpoint("POST", "/v1/jobs/{job_id}/cancel", ("jobs.cancel",))
JOB_EVENTS = Endpoint("GET", "/v1/jobs/{job_id}/events", ("jobs.stream",))
JOB_NOTEBOOK = Endpoint("GET", "/v1/jobs/{job_id}/notebook", ("jobs.download_notebook",))
JOB_NOTEBOOK_HTML = Endpoint(
    "GET", "/v1/jobs/{job_id}/notebook.html", ("jobs.download_notebook_html",)
)
JOB_BUNDLE = Endpoint("GET", "/v1/jobs/{job_id}/bundle", ("jobs.download_bundle",))
JOB_ARTIFACT = Endpoint(
    "GET", "/v1/jobs/{job_id}/artifacts/{name}", ("jobs.download_artifact", "jobs.read_artifact")
)
UPLOAD_FILE = Endpoint("POST", "/v1/files", ("files.upload",))
LIST_FILES = Endpoint("GET", "/v1/files", ("files.list", "files.list_page"))
GET_FILE = Endpoint("GET", "/v1/files/{file_id}", ("files.get",))
DELETE_FILE = Endpoint("DELETE", "/v1/files/{file_id}", ("files.delete",))
FILE_CONTENT = Endpoint("GET", "/v1/files/{file_id}/content", ("files.download", "files.content"))
CREATE_KEY = Endpoint("POST", "/v1/api-keys", ("api_keys.create",))
LIST_KEYS = Endpoint("GET", "/v1/api-keys", ("api_keys.list",))
REVOKE_KEY = Endpoint("DELETE", "/v1/api-keys/{key_id}", ("api_keys.revoke",))
GET_ACCOUNT = Endpoint("GET", "/v1/account", ("account.get",))
GET_WEBHOOK_SECRET = Endpoint("GET", "/v1/webhook-secret", ("webhooks.secret",))
ROTATE_WEBHOOK_SECRET = Endpoint("POST", "/v1/webhook-secret/rotate", ("webhooks.rotate_secret",))

ENDPOINTS: tuple[Endpoint, ...] = (
    CREATE_JOB,
    LIST_JOBS,
    GET_JOB,
    DELETE_JOB,
    CANCEL_JOB,
    JOB_EVENTS,
    JOB_NOTEBOOK,
    JOB_NOTEBOOK_HTML,
    JOB_BUNDLE,
    JOB_ARTIFACT,
    UPLOAD_FILE,
    LIST_FILES,
    GET_FILE,
    DELETE_FILE,
    FILE_CONTENT,
    CREATE_KEY,
    LIST_KEYS,
    REVOKE_KEY,
    GET_ACCOUNT,
    GET_WEBHOOK_SECRET,
    ROTATE_WEBHOOK_SECRET,
)
