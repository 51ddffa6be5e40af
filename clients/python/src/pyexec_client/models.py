"""Typed values of the API: jobs and their outputs, files, API keys, the account, and a job's
events.

Each is a dataclass read from the API's JSON. Fields the server adds later are kept in
`extra` rather than failing, so an older SDK keeps working against a newer server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    import pandas

    from pyexec_client._client import AsyncPyExec, PyExec

JobStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})

Plan = Literal["free", "pro", "business"]

Scope = Literal["jobs:read", "jobs:write", "files:read", "files:write", "keys:manage"]
ALL_SCOPES: tuple[str, ...] = (
    "jobs:read",
    "jobs:write",
    "files:read",
    "files:write",
    "keys:manage",
)



class _Model(Protocol):
    """A dataclass of this module: built from keyword arguments, `extra` among them."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None: ...


M = TypeVar("M", bound=_Model)
Item = TypeVar("Item")
_NOT_FIELDS = frozenset({"extra", "_raw", "_client"})


def parse_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _build(cls: type[M], data: Mapping[str, Any], **converted: Any) -> M:
    """An instance of dataclass `cls` from `data`; unknown keys go to its `extra`."""
    names = {f.name for f in dataclasses.fields(cls)} - _NOT_FIELDS
    values = {k: v for k, v in data.items() if k in names}
    values.update(converted)
    extra = {k: v for k, v in data.items() if k not in names}
    if any(f.name == "_raw" for f in dataclasses.fields(cls)):
        values["_raw"] = dict(data)
    return cls(**values, extra=extra)


# --- outputs ---------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Output:
    """One rich output of one cell, in the order the cells made them."""

    type: str
    cell: int
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class TableOutput(Output):
    """A pandas DataFrame or Series: its first 1,000 rows, and how many it had in all."""

    type: Literal["table"] = "table"
    columns: list[str]
    rows: list[list[Any]]
    total_rows: int

    def to_pandas(self) -> pandas.DataFrame:
        """The rows as a DataFrame (needs pandas, which the SDK does not install)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


@dataclass(kw_only=True)
class ImageOutput(Output):
    """A plot or image, kept as an artifact of the job (`url` is None when caps left it out)."""

    type: Literal["image"] = "image"
    media_type: str
    name: str
    url: str | None = None


@dataclass(kw_only=True)
class TextOutput(Output):
    """`stdout`, `stderr`, `result` (a plain value) or `notice` (PyExec's own note)."""

    type: Literal["text"] = "text"
    name: str
    text: str


@dataclass(kw_only=True)
class HtmlOutput(Output):
    type: Literal["html"] = "html"
    html: str


@dataclass(kw_only=True)
class MarkdownOutput(Output):
    type: Literal["markdown"] = "markdown"
    text: str


@dataclass(kw_only=True)
class JsonOutput(Output):
    type: Literal["json"] = "json"
    json: Any = None


@dataclass(kw_only=True)
class ErrorOutput(Output):
    type: Literal["error"] = "error"
    ename: str
    evalue: str
    traceback: str = ""


@dataclass(kw_only=True)
class UnknownOutput(Output):
    """An output of a type this SDK does not know yet: its fields are in `extra`."""


_OUTPUTS: dict[str, type[Output]] = {
    "table": TableOutput,
    "image": ImageOutput,
    "text": TextOutput,
    "html": HtmlOutput,
    "markdown": MarkdownOutput,
    "json": JsonOutput,
    "error": ErrorOutput,
}


def parse_output(data: Mapping[str, Any]) -> Output:
    cls = _OUTPUTS.get(str(data.get("type")))
    if cls is not None:
        try:
            return _build(cls, data)
        except TypeError:
            pass  # a required field missing: keep it whole rather than fail the job
    return UnknownOutput(
        type=str(data.get("type", "")),
        cell=int(data.get("cell", 0) or 0),
        extra={k: v for k, v in data.items() if k not in ("type", "cell")},
    )


# --- jobs ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Artifact:
    """A file a job left: a figure, or a file its code wrote (`out/summary.csv`)."""

    name: str
    media_type: str
    bytes: int
    url: str
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class Usage:
    cells: int = 0
    execution_ms: int = 0
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    # e.g. `steps` and `model` of a prompt job.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Webhook:
    url: str
    status: str
    attempts: int = 0
    last_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class JobData:
    """A job as the API last described it. `Job` and `AsyncJob` add what a client can do."""

    id: str
    status: JobStatus
    title: str = ""
    prompt: str | None = None
    code: str | None = None
    priority: int = 5
    timeout_seconds: int | None = None
    parent_job_id: str | None = None
    file_ids: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    result: str | None = None
    error_message: str | None = None
    outputs: list[Output] = field(default_factory=list, repr=False)
    artifacts: list[Artifact] = field(default_factory=list, repr=False)
    notebook_url: str | None = None
    usage: Usage = field(default_factory=Usage, repr=False)
    # In the public contract (API.md); a server that does not send them leaves the defaults.
    ungrounded_numbers: list[Any] = field(default_factory=list, repr=False)
    webhook: Webhook | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    # The object as the API sent it, for `to_dict()` (what the CLI's --json prints).
    _raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    _DATES: ClassVar[tuple[str, ...]] = ("created_at", "started_at", "completed_at")

    @classmethod
    def fields_from(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """The constructor's keyword arguments for the API's job object `data`."""
        converted: dict[str, Any] = {name: parse_datetime(data.get(name)) for name in cls._DATES}
        converted["outputs"] = [parse_output(o) for o in data.get("outputs") or []]
        converted["artifacts"] = [_build(Artifact, a) for a in data.get("artifacts") or []]
        converted["usage"] = _build(Usage, data.get("usage") or {})
        hook = data.get("webhook")
        converted["webhook"] = _build(Webhook, hook) if isinstance(hook, Mapping) else None
        converted["ungrounded_numbers"] = list(data.get("ungrounded_numbers") or [])
        converted["file_ids"] = list(data.get("file_ids") or [])
        names = {f.name for f in dataclasses.fields(cls)} - _NOT_FIELDS
        values = {k: v for k, v in data.items() if k in names}
        values.update(converted)
        values["extra"] = {k: v for k, v in data.items() if k not in names}
        values["_raw"] = dict(data)
        return values

    def to_dict(self) -> dict[str, Any]:
        """The job object as the API sent it (JSON-ready)."""
        return dict(self._raw)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobData:
        return cls(**cls.fields_from(data))

    # --- reading it ---------------------------------------------------------------------

    @property
    def is_final(self) -> bool:
        """Whether the job has ended (completed, failed or cancelled): it changes no more."""
        return self.status in FINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"

    @property
    def tables(self) -> list[TableOutput]:
        return [o for o in self.outputs if isinstance(o, TableOutput)]

    @property
    def images(self) -> list[ImageOutput]:
        return [o for o in self.outputs if isinstance(o, ImageOutput)]

    @property
    def errors(self) -> list[ErrorOutput]:
        return [o for o in self.outputs if isinstance(o, ErrorOutput)]

    @property
    def stdout(self) -> str:
        """Everything the job's cells printed, in order."""
        return "".join(
            o.text for o in self.outputs if isinstance(o, TextOutput) and o.name == "stdout"
        )

    def raise_for_status(self) -> None:
        """Raise `JobFailedError` if the job ended failed or cancelled (not while it runs)."""
        from pyexec_client._errors import JobFailedError

        if self.status in ("failed", "cancelled"):
            raise JobFailedError(self)

    def _update(self, other: JobData) -> None:
        for f in dataclasses.fields(JobData):
            setattr(self, f.name, getattr(other, f.name))

    # --- in a notebook --------------------------------------------------------------------

    def _image_bytes(self, output: ImageOutput) -> bytes | None:
        return None

    def _repr_html_(self) -> str:
        from pyexec_client._display import job_html

        return job_html(self, self._image_bytes)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from pyexec_client._display import job_text

        return {"text/plain": job_text(self), "text/html": self._repr_html_()}


@dataclass(kw_only=True, repr=False)
class Job(JobData):
    """A job of a `PyExec` client: it can wait for itself, be cancelled and downloaded."""

    _client: PyExec | None = field(default=None, compare=False)

    @classmethod
    def bound(cls, data: Mapping[str, Any], client: PyExec) -> Job:
        return cls(**cls.fields_from(data), _client=client)

    @property
    def client(self) -> PyExec:
        if self._client is None:
            raise RuntimeError("this job is not bound to a client; use client.jobs.get(id)")
        return self._client

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, status={self.status!r}, title={self.title!r})"

    def refresh(self) -> Job:
        """Read the job again (in place); returns it."""
        self._update(self.client.jobs.get(self.id))
        return self

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job ends (long-polling, no busy loop); updates it in place.

        With `timeout` (seconds), raises `WaitTimeoutError` if it has not ended by then.
        A job that failed is returned, not raised: see `raise_for_status()`.
        """
        self._update(self.client.jobs.wait(self.id, timeout=timeout))
        return self

    def cancel(self) -> Job:
        self._update(self.client.jobs.cancel(self.id))
        return self

    def delete(self) -> None:
        self.client.jobs.delete(self.id)

    def stream(self, last_event_id: str | None = None) -> Any:
        """The job's events as they happen (see `client.jobs.stream`)."""
        return self.client.jobs.stream(self.id, last_event_id=last_event_id)

    def download_notebook(self, path: Any = None) -> Any:
        return self.client.jobs.download_notebook(self.id, path)

    def download_bundle(self, path: Any = None) -> Any:
        return self.client.jobs.download_bundle(self.id, path)

    def download_artifact(self, name: str, path: Any = None) -> Any:
        return self.client.jobs.download_artifact(self.id, name, path)

    def _image_bytes(self, output: ImageOutput) -> bytes | None:
        if self._client is None or output.url is None:
            return None
        return self._client.jobs.read_artifact(self.id, output.name)


@dataclass(kw_only=True, repr=False)
class AsyncJob(JobData):
    """A job of an `AsyncPyExec` client: the same as `Job`, with coroutines."""

    _client: AsyncPyExec | None = field(default=None, compare=False)

    @classmethod
    def bound(cls, data: Mapping[str, Any], client: AsyncPyExec) -> AsyncJob:
        return cls(**cls.fields_from(data), _client=client)

    @property
    def client(self) -> AsyncPyExec:
        if self._client is None:
            raise RuntimeError("this job is not bound to a client; use client.jobs.get(id)")
        return self._client

    def __repr__(self) -> str:
        return f"AsyncJob(id={self.id!r}, status={self.status!r}, title={self.title!r})"

    async def refresh(self) -> AsyncJob:
        self._update(await self.client.jobs.get(self.id))
        return self

    async def wait(self, timeout: float | None = None) -> AsyncJob:
        """Wait until the job ends (long-polling); updates it in place. See `Job.wait`."""
        self._update(await self.client.jobs.wait(self.id, timeout=timeout))
        return self

    async def cancel(self) -> AsyncJob:
        self._update(await self.client.jobs.cancel(self.id))
        return self

    async def delete(self) -> None:
        await self.client.jobs.delete(self.id)

    def stream(self, last_event_id: str | None = None) -> Any:
        return self.client.jobs.stream(self.id, last_event_id=last_event_id)

    async def download_notebook(self, path: Any = None) -> Any:
        return await self.client.jobs.download_notebook(self.id, path)

    async def download_bundle(self, path: Any = None) -> Any:
        return await self.client.jobs.download_bundle(self.id, path)

    async def download_artifact(self, name: str, path: Any = None) -> Any:
        return await self.client.jobs.download_artifact(self.id, name, path)

    def _image_bytes(self, output: ImageOutput) -> bytes | None:
        # A repr cannot await: the images of a notebook's display come over a blocking client.
        if self._client is None or output.url is None:
            return None
        with self._client.blocking_twin() as client:
            return client.jobs.read_artifact(self.id, output.name)


# --- files and keys ----------------------------------------------------------------------


@dataclass(kw_only=True)
class FileObject:
    """An uploaded file: give its `id` in a job's files."""

    id: str
    filename: str
    bytes: int
    media_type: str
    sha256: str
    created_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    # The object as the API sent it, for `to_dict()` (what the CLI's --json prints).
    _raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._raw)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileObject:
        return _build(cls, data, created_at=parse_datetime(data.get("created_at")))


@dataclass(kw_only=True)
class ApiKey:
    """An API key as listed: never the key itself."""

    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    # The object as the API sent it, for `to_dict()` (what the CLI's --json prints).
    _raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._raw)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApiKey:
        return _build(
            cls,
            data,
            created_at=parse_datetime(data.get("created_at")),
            last_used_at=parse_datetime(data.get("last_used_at")),
        )


@dataclass(kw_only=True)
class WebhookSecret:
    """The account's webhook signing secret: verify deliveries with `verify_webhook`."""

    secret: str = field(repr=False)
    created_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    _raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._raw)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WebhookSecret:
        return _build(cls, data, created_at=parse_datetime(data.get("created_at")))


@dataclass(kw_only=True)
class ApiKeyCreated(ApiKey):
    """A new key: `key` is shown this once (and kept out of the repr)."""

    key: str = field(repr=False)


# --- the account -------------------------------------------------------------------------


@dataclass(kw_only=True)
class PlanLimits:
    """What the account's plan allows; `requests_per_day` None means unlimited."""

    requests_per_day: int | None = None
    max_running_jobs: int
    max_job_timeout_seconds: int
    max_upload_bytes: int  # one file
    max_storage_bytes: int  # files, artifacts and notebooks in all
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class AccountUsage:
    """Where the account stands: requests this UTC day (None on an unlimited plan, which is
    not counted) and the bytes it stores now."""

    requests_today: int | None = None
    requests_reset_at: datetime | None = None
    storage_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class Account:
    """The account of the calling key: its plan, the plan's limits and today's usage."""

    id: str
    email: str
    plan: Plan
    limits: PlanLimits
    usage: AccountUsage
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    # The object as the API sent it, for `to_dict()` (what the CLI's --json prints).
    _raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._raw)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Account:
        usage = dict(data.get("usage") or {})
        reset_at = parse_datetime(usage.get("requests_reset_at"))
        return _build(
            cls,
            data,
            limits=_build(PlanLimits, data.get("limits") or {}),
            usage=_build(AccountUsage, usage, requests_reset_at=reset_at),
        )

    @property
    def unlimited(self) -> bool:
        """Whether the plan counts no requests (no daily limit)."""
        return self.limits.requests_per_day is None

    @property
    def requests_remaining(self) -> int | None:
        """Requests left this UTC day (this one counted); None when unlimited."""
        if self.limits.requests_per_day is None or self.usage.requests_today is None:
            return None
        return max(0, self.limits.requests_per_day - self.usage.requests_today)

    @property
    def storage_remaining(self) -> int:
        """Bytes that may still be stored before uploads and artifacts are refused."""
        return max(0, self.limits.max_storage_bytes - self.usage.storage_bytes)


@dataclass
class Page(Generic[Item]):
    """One page of a list; pass `next_cursor` for the next (None on the last page)."""

    data: list[Item]
    next_cursor: str | None


# --- events ----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class JobEvent:
    """One Server-Sent Event of a job; `id` resumes the stream after it (None on `result`)."""

    type: str
    id: str | None = None


@dataclass(kw_only=True)
class StatusEvent(JobEvent):
    type: Literal["status"] = "status"
    status: JobStatus


@dataclass(kw_only=True)
class CellStartedEvent(JobEvent):
    type: Literal["cell_started"] = "cell_started"
    cell: int
    source: str = ""


@dataclass(kw_only=True)
class OutputEvent(JobEvent):
    """An output while its cell runs, as the kernel sent it (nbformat's output dict)."""

    type: Literal["output"] = "output"
    cell: int
    output: dict[str, Any] = field(default_factory=dict)

    @property
    def output_type(self) -> str:
        return str(self.output.get("output_type", ""))

    @property
    def text(self) -> str:
        """Streamed text, a value's plain text, or an error's name and value."""
        if "text" in self.output:
            return str(self.output["text"])
        if self.output_type == "error":
            return f"{self.output.get('ename', '')}: {self.output.get('evalue', '')}"
        return str((self.output.get("data") or {}).get("text/plain", ""))


@dataclass(kw_only=True)
class CellFinishedEvent(JobEvent):
    type: Literal["cell_finished"] = "cell_finished"
    cell: int
    status: str = "ok"


@dataclass(kw_only=True)
class CancelRequestedEvent(JobEvent):
    type: Literal["cancel_requested"] = "cancel_requested"


@dataclass(kw_only=True)
class ResultEvent(JobEvent):
    """The last event: the job as it ended."""

    type: Literal["result"] = "result"
    job: JobData


@dataclass(kw_only=True)
class UnknownEvent(JobEvent):
    """An event of a type this SDK does not know yet."""

    data: dict[str, Any] = field(default_factory=dict)


_EVENTS: dict[str, type[JobEvent]] = {
    "status": StatusEvent,
    "cell_started": CellStartedEvent,
    "output": OutputEvent,
    "cell_finished": CellFinishedEvent,
    "cancel_requested": CancelRequestedEvent,
}


def parse_event(
    name: str,
    event_id: str | None,
    data: Mapping[str, Any],
    make_job: Callable[[Mapping[str, Any]], JobData],
) -> JobEvent:
    if name == "result":
        return ResultEvent(id=event_id, job=make_job(data))
    cls = _EVENTS.get(name)
    if cls is not None:
        names = {f.name for f in dataclasses.fields(cls)} - {"type", "id"}
        try:
            return cls(id=event_id, **{k: v for k, v in data.items() if k in names})
        except TypeError:
            pass
    return UnknownEvent(type=name, id=event_id, data=dict(data))
