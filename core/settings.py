"""The one settings object: every environment variable PyExec reads is a field here."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

KernelBackend = Literal["local", "forkserver", "gateway"]
PlanName = Literal["free", "pro", "business"]


class PlanOverride(BaseModel):
    """Some limits of one plan, replacing the defaults of `core.plans` for the fields given.

    `requests_per_day: null` makes a plan unlimited.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_day: int | None = Field(default=None, ge=1)
    max_running_jobs: int | None = Field(default=None, ge=1)
    max_job_timeout: int | None = Field(default=None, ge=1, description="Seconds.")
    max_upload_bytes: int | None = Field(default=None, ge=1)
    max_storage_bytes: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _only_requests_may_be_unlimited(self) -> PlanOverride:
        for name in self.model_fields_set - {"requests_per_day"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null (only requests_per_day can be unlimited)")
        return self


KernelSandbox = Literal["auto", "strict", "off"]
SignUp = Literal["open", "closed"]


class SettingsError(ValueError):
    """A setting has a bad value; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PYEXEC_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path("data"),
        description="Database, uploaded files, notebooks, artifacts, the demo key and the "
        "kernels' work dirs (kernels never see the rest of it).",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "PYEXEC_DATABASE_URL"),
        description="SQLAlchemy URL; default: SQLite in the data dir (WAL). "
        "`postgresql://...` (asyncpg) for the scaled-out deployment.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "PYEXEC_REDIS_URL"),
        description="Set: the scaled-out deployment (arq queue, events and request counts on "
        "Redis; `pyexec api` + `pyexec worker`). `redis://`, `rediss://` or `unix://`.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the HTTP server listens on.")

    kernel_backend: KernelBackend = Field(
        default="forkserver",
        description="How kernels start: forkserver (forked from a warmed zygote; falls back "
        "to local, with a warning, where the host cannot fork kernels), local (a process "
        "per kernel) or gateway (Jupyter Enterprise Gateway starts them: docs/gateway.md).",
    )
    kernel_pool_size: int = Field(
        default=2, ge=1, le=256, description="Warm kernels kept ready, and jobs run at once."
    )
    kernel_start_timeout: float = Field(
        default=60.0, gt=0, description="Seconds a kernel may take to start and warm up."
    )
    kernel_interrupt_grace: float = Field(
        default=3.0,
        gt=0,
        description="Seconds between interrupting a cell (timeout, cancel) and killing its kernel.",
    )
    kernel_work_root: Path | None = Field(
        default=None,
        description="Where kernels' work dirs are made; default: the data dir's `work`.",
    )
    # Isolation of each kernel (kernels.sandbox): what the host cannot offer is logged and
    # reported by /readyz; `strict` refuses to run kernels without all of it.
    kernel_sandbox: KernelSandbox = Field(
        default="auto",
        description="auto: isolate kernels as far as the host allows and report the rest; "
        "strict: refuse to run kernels without full isolation; off: scrubbed environment and "
        "limits only.",
    )
    kernel_uid_range: str = Field(
        default="200000-200999",
        description="Unprivileged uids (and gids) for kernels, one per live kernel, FIRST-LAST; "
        "they must be unused on the host.",
    )
    kernel_memory_mb: int = Field(
        default=2048,
        ge=0,
        description="Memory per kernel: its cgroup limit, and its address space beyond what "
        "it maps at start; 0: none. Gateway kernels: sent as KERNEL_MEMORY_LIMIT only when "
        "set (else the kernelspec's limit holds).",
    )
    kernel_max_processes: int = Field(
        default=256,
        ge=0,
        description="Processes and threads per kernel (cgroup pids.max, RLIMIT_NPROC); 0: none.",
    )
    kernel_cpu_seconds: int = Field(
        default=3600, ge=0, description="CPU seconds per kernel (RLIMIT_CPU); 0: none."
    )
    kernel_max_file_mb: int = Field(
        default=1024, ge=0, description="Largest file a kernel may write (RLIMIT_FSIZE); 0: none."
    )
    kernel_max_open_files: int = Field(
        default=1024, ge=0, description="Open files per kernel process (RLIMIT_NOFILE); 0: none."
    )
    kernel_tmp_mb: int = Field(
        default=256,
        ge=1,
        description="Size of the kernel's private /tmp and /dev/shm (in memory, counted in "
        "its memory limit).",
    )
    # The gateway backend (PYEXEC_KERNEL_BACKEND=gateway): see README, "Kernels on Enterprise
    # Gateway". Checked at start-up; a bad value stops the worker naming its variable.
    gateway_url: str | None = Field(
        default=None,
        description="Jupyter Enterprise Gateway, http(s)://host:port[/base], no credentials in it; "
        "required by the gateway backend (docs/gateway.md).",
    )
    gateway_token: str | None = Field(
        default=None,
        repr=False,
        description="The gateway's EG_AUTH_TOKEN, sent as `Authorization: token ...` on every "
        "request and websocket; never logged, never shown by /readyz.",
    )
    gateway_kernel_name: str = Field(
        default="pyexec-python-k8s",
        min_length=1,
        description="The gateway's kernelspec for job kernels (pyexec-gateway-local for a "
        "gateway on the same machine).",
    )
    gateway_username: str = Field(
        default="pyexec",
        min_length=1,
        description="KERNEL_USERNAME of every kernel: the gateway's per-user limit "
        "(EG_MAX_KERNELS_PER_USER) counts it (one per worker: a limit per worker), and a "
        "gateway running as root refuses kernels without one.",
    )
    gateway_worker_id: str | None = Field(
        default=None,
        description="This worker's name on the gateway, stable across its restarts and "
        "distinct between workers (a restart deletes the kernels its last life left); "
        "default: the host name (a pod's name).",
    )
    gateway_kernel_env: dict[str, str] = Field(
        default_factory=dict,
        description='JSON, e.g. {"KERNEL_CPUS": "1", "KERNEL_NAMESPACE": "pyexec"}: more '
        "KERNEL_* values for the kernelspec (only KERNEL_* variables reach a kernel; values of "
        "at most 4,096 characters).",
    )
    gateway_kernel_work_root: str | None = Field(
        default=None,
        description="PYEXEC_KERNEL_WORK_ROOT as the gateway's kernels see it, when a volume "
        "holds it for both: each kernel's KERNEL_WORKING_DIR is its work dir's path below it "
        "(pyexec-python-k8s: a path on the kernels' claim, of which a pod mounts only its own "
        "dir); unset: files pass over each kernel's channel.",
    )
    gateway_request_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds for each request to the gateway, and for reconnecting a kernel's "
        "dropped websocket.",
    )

    job_default_timeout: int = Field(
        default=300,
        ge=1,
        description="A job's wall-clock budget in seconds when it sets none (cut to the "
        "plan's cap).",
    )
    job_max_attempts: int = Field(
        default=2, ge=1, description="Runs of one job, counting re-runs after a crash."
    )
    shutdown_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM or SIGINT, seconds the jobs running in the process get to "
        "finish; the rest go back to the queue (no attempt used) for another worker or the "
        "next start (docs/operations.md, Deploys and drain).",
    )

    artifact_max_files: int = Field(
        default=100, ge=0, description="Artifacts kept per job: figures, then written files."
    )
    artifact_max_bytes: int = Field(
        default=100 * 1024 * 1024, ge=0, description="Bytes of artifacts kept per job."
    )
    plans: dict[PlanName, PlanOverride] = Field(
        default_factory=dict,
        description='JSON, e.g. {"free": {"requests_per_day": 500}}: overrides of the plan table.',
    )

    # The scaled-out deployment (REDIS_URL set): see README, "Deployment: scaled out".
    worker_lease_seconds: float = Field(
        default=10.0,
        ge=1,
        description="A worker's hold on a running job lasts this long unless renewed; a job "
        "whose worker died runs again after about twice this.",
    )
    worker_poll_delay: float = Field(
        default=0.5,
        gt=0,
        le=5,
        description="Seconds between a worker's looks at the queue when nothing wakes it "
        "(a new job wakes idle workers at once).",
    )
    reconcile_interval: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between a worker's comparisons of the database with Redis.",
    )
    events_retention_seconds: int = Field(
        default=3600, ge=1, description="How long a job's event log is kept after its last event."
    )

    openai_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY"),
        repr=False,
        description="Key for the model endpoint; setting it (or OPENAI_BASE_URL) switches "
        "prompt jobs from the offline planner to the model. Never visible to kernels.",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL"),
        description="Any OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, LiteLLM, Azure); "
        "default: OpenAI's API.",
    )
    llm_model: str | None = Field(
        default=None, description="Model name; required with OPENAI_BASE_URL."
    )
    llm_tools: bool = Field(
        default=True, description="Tool calling; off: the fenced-code-block protocol."
    )
    llm_stream: bool = Field(default=False, description="Stream chat completions.")
    llm_timeout: float = Field(default=120.0, gt=0, description="Seconds per model request.")
    llm_retries: int = Field(
        default=3, ge=0, le=10, description="Retries of a model request (429, 5xx, timeouts)."
    )

    agent_max_steps: int = Field(default=10, ge=1, le=200, description="Model turns per job.")
    agent_cell_timeout: float = Field(
        default=120.0, gt=0, description="Seconds one model-written cell may run."
    )

    # The web dashboard (api.dashboard): sign-in, sessions, sign-up.
    public_url: str | None = Field(
        default=None,
        description="Where people reach the service, e.g. https://pyexec.example.com: the "
        "origin the dashboard accepts forms from and prints links with; https makes its "
        "cookies Secure.",
    )
    signup: SignUp = Field(
        default="closed",
        description="open: anyone may create a free account on the dashboard's sign-up page; "
        "closed: accounts come from the operator (pyexec accounts create).",
    )
    signin_account_attempts: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins of one email per window before it must wait.",
    )
    signin_ip_attempts: int = Field(
        default=20,
        ge=1,
        description="Failed sign-ins from one IP address (an IPv6 /64) per window before it "
        "must wait.",
    )
    signin_window_seconds: int = Field(
        default=900, ge=1, description="The window of the sign-in limits, in seconds."
    )
    session_days: int = Field(
        default=14,
        ge=1,
        le=365,
        description="A dashboard session ends after this many days without a visit.",
    )

    # The HTTP server's guards against clients that hold connections (pyexec.http), and the
    # long requests an account may hold open at once in one API process.
    http_header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's headers, counted from the "
        "connection's opening or the previous response; also the grace before the body rate "
        "is checked.",
    )
    http_min_body_rate: int = Field(
        default=1024,
        ge=0,
        description="Bytes per second a request body must average once it has been read for "
        "longer than the header timeout; 0: no minimum.",
    )
    http_max_connections_per_client: int = Field(
        default=256,
        ge=1,
        description="Open connections from one IP address; more are closed at once. Behind "
        "a reverse proxy every client is the proxy: raise it, and limit clients there.",
    )
    http_max_connections: int = Field(
        default=8192, ge=1, description="Open connections in all; more are closed at once."
    )
    max_open_waits_per_account: int = Field(
        default=100,
        ge=1,
        description="`GET /v1/jobs/{id}?wait=` requests an account may hold open at once "
        "(per API process); more are 429 with Retry-After.",
    )
    max_open_streams_per_account: int = Field(
        default=20,
        ge=1,
        description="`GET /v1/jobs/{id}/events` streams an account may hold open at once "
        "(per API process); more are 429 with Retry-After.",
    )

    # Prometheus metrics (core.metrics): GET /metrics on the API, and a worker's own port.
    metrics_enabled: bool = Field(
        default=True,
        description="Serve Prometheus metrics at GET /metrics (and on PYEXEC_METRICS_PORT); "
        "off: /metrics is 404 and no worker opens a metrics port.",
    )
    metrics_token: str | None = Field(
        default=None,
        repr=False,
        description="Set: /metrics (API and workers) answers only requests with "
        "`Authorization: Bearer <token>` (401 otherwise); unset: anyone who reaches it reads it.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="`pyexec worker` serves its metrics at http://PYEXEC_HOST:PORT/metrics; "
        "unset: none (`pyexec serve` and `pyexec api` use their HTTP port).",
    )

    # Webhooks (core.webhooks, worker.webhooks): the job object POSTed to a job's webhook_url.
    webhook_allow_http: bool = Field(
        default=False,
        description="Accept http:// webhook URLs (tests, a trusted network); default: https only.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Accept webhook URLs that resolve to loopback, private, link-local or "
        "other non-public addresses (tests, receivers inside the network). Off: refused at "
        "submission and again at each delivery.",
    )
    webhook_retry_base_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Wait after a delivery's first failed attempt; doubled after each next "
        "one (with jitter), up to PYEXEC_WEBHOOK_RETRY_MAX_SECONDS.",
    )
    webhook_retry_max_seconds: float = Field(
        default=3600.0, gt=0, description="Longest wait between two attempts of a delivery."
    )
    webhook_retry_window_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description="A delivery not made this long after its job ended is given up (gave_up).",
    )
    webhook_connect_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to connect to a webhook receiver."
    )
    webhook_timeout: float = Field(
        default=10.0, gt=0, description="Seconds for a whole webhook attempt (connect to answer)."
    )
    webhook_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between a worker's looks for due webhook deliveries.",
    )

    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="debug, info, warning or error."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text, or json: one JSON object a line (time, level, logger, message, "
        "request_id, job_id, account_id, exc_info) for a log shipper.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="Set: OpenTelemetry traces (request, queue wait, run, cells, model calls) "
        "are sent there over OTLP/HTTP (the exporter reads the other `OTEL_EXPORTER_OTLP_*`).",
    )
    otel_service_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_SERVICE_NAME"),
        description="The traces' service name (default: pyexec-serve, -api or -worker).",
    )
    readyz_details: bool = Field(
        default=False,
        description="/readyz also shows how kernels are isolated (uid range, limits); keep "
        "it off where /readyz is reachable by anyone.",
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parsed = urlsplit(value.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an http:// or https:// URL, e.g. https://pyexec.example.com")
        if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
            raise ValueError("must be the origin only (no path): the dashboard is served at /")
        return f"{parsed.scheme}://{parsed.netloc}"

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def _otlp_endpoint(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL, e.g. http://collector:4318")
        return value.strip()

    @field_validator("gateway_url")
    @classmethod
    def _gateway_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("takes no credentials (set PYEXEC_GATEWAY_TOKEN), query or fragment")
        return value.strip().rstrip("/")

    @field_validator("gateway_kernel_env")
    @classmethod
    def _kernel_env(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not key.startswith("KERNEL_"):
                raise ValueError(f"{key}: the gateway passes only KERNEL_* variables to kernels")
            if len(item) > 4096:
                raise ValueError(f"{key}: the gateway takes values of at most 4096 characters")
        return value

    @field_validator("gateway_kernel_work_root")
    @classmethod
    def _kernel_side_path(cls, value: str | None) -> str | None:
        if value and not value.startswith("/"):
            raise ValueError("must be an absolute path (as kernels see it)")
        return value.rstrip("/") or "/" if value else None

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("kernel_work_root")
    @classmethod
    def _absolute_or_none(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator("kernel_uid_range")
    @classmethod
    def _uid_range(cls, value: str) -> str:
        first, sep, last = value.partition("-")
        try:
            low, high = int(first), int(last if sep else first)
        except ValueError:
            raise ValueError("expected FIRST-LAST, e.g. 200000-200999") from None
        if not 1000 <= low <= high < 2**32 - 1:
            raise ValueError("uids must satisfy 1000 <= FIRST <= LAST < 4294967295")
        return f"{low}-{high}"

    @property
    def kernel_uids(self) -> range:
        first, _, last = self.kernel_uid_range.partition("-")
        return range(int(first), int(last) + 1)

    @property
    def work_root(self) -> Path:
        return self.kernel_work_root or self.data_dir / "work"

    @cached_property
    def db_url(self) -> str:
        if self.database_url:
            return _async_driver(self.database_url)
        return f"sqlite+aiosqlite:///{self.data_dir / 'pyexec.db'}"

    @property
    def scaled_out(self) -> bool:
        """Jobs go through Redis (arq) to `pyexec worker` processes instead of in-process."""
        return bool(self.redis_url)

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)


def _async_driver(url: str) -> str:
    """Accept the URLs people paste (postgres://, sqlite:///) and pick the async driver."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def load_settings(**overrides: object) -> Settings:
    """Read and validate the environment; a bad value raises `SettingsError` naming it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except PydanticSettingsError as exc:
        # A JSON-valued variable that is not JSON never reaches validation.
        found = re.search(r'field "(\w+)"', str(exc))
        name = _env_name(found.group(1)) if found else "a variable"
        raise SettingsError(f"invalid configuration: {name}: not valid JSON") from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            where = ".".join(str(part) for part in err["loc"][1:])
            name = _env_name(field) + (f" ({where})" if where else "")
            problems.append(f"{name}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


def _env_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        return str(info.validation_alias.choices[0])
    return f"PYEXEC_{field.upper()}" if field in Settings.model_fields else field
