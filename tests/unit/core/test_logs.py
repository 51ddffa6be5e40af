"""JSON log lines, and the context fields they carry."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from pyexec.core import logs


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the json formatter and the context filter, as configured."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("pyexec.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_is_one_json_line_with_the_standard_fields(capture) -> None:
    logger, stream = capture
    logger.info("job %s done\nin %d s", "j1", 3)
    (line,) = lines(stream)
    assert line["message"] == "job j1 done\nin 3 s"
    assert line["level"] == "INFO"
    assert line["logger"] == "pyexec.test-logs"
    stamp = str(line["time"])
    assert stamp.endswith("Z")
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0
    assert "request_id" not in line and "job_id" not in line
    assert len(stream.getvalue().splitlines()) == 1


def test_bound_fields_are_on_the_lines_inside_the_block_only(capture) -> None:
    logger, stream = capture
    with logs.bind(request_id="r1", account_id=None):
        logger.info("inside")
        with logs.bind(job_id="j1"):
            logger.info("deeper")
    logger.info("outside")
    inside, deeper, outside = lines(stream)
    assert inside["request_id"] == "r1" and "account_id" not in inside
    assert deeper["request_id"] == "r1" and deeper["job_id"] == "j1"
    assert "request_id" not in outside and "job_id" not in outside


def test_annotate_adds_to_the_bound_context_seen_by_the_outer_code(capture) -> None:
    logger, stream = capture

    async def authenticated() -> None:
        logs.annotate(account_id="a1")  # as the auth middleware does, deeper in the request

    async def request() -> None:
        with logs.bind(request_id="r1"):
            await authenticated()
            # A task started inside the request copies its context: it sees the account too.
            await asyncio.create_task(asyncio.sleep(0))
            logger.info("access line")

    asyncio.run(request())
    (line,) = lines(stream)
    assert line["request_id"] == "r1" and line["account_id"] == "a1"


def test_an_exception_carries_its_traceback_text(capture) -> None:
    logger, stream = capture
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("it failed")
    (line,) = lines(stream)
    assert line["level"] == "ERROR"
    assert "Traceback (most recent call last)" in str(line["exc_info"])
    assert "ValueError: boom" in str(line["exc_info"])


def test_extra_fields_are_kept_and_anything_is_serialised(capture) -> None:
    logger, stream = capture
    logger.info("with extras", extra={"kernel_id": "k1", "when": datetime(2026, 1, 1)})
    (line,) = lines(stream)
    assert line["kernel_id"] == "k1" and line["when"] == "2026-01-01 00:00:00"


def test_configure_puts_one_handler_on_the_root_logger(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure("info", "json")
        logs.configure("info", "json")  # idempotent: never two lines per record
        assert len(root.handlers) == 1
        with logs.bind(job_id="j9"):
            logging.getLogger("uvicorn.error").warning("from uvicorn")
            logs.announce("banner line\n")
        err = capsys.readouterr()
        (logged,) = [json.loads(line) for line in err.err.splitlines()]
        assert logged["logger"] == "uvicorn.error" and logged["job_id"] == "j9"
        (banner,) = [json.loads(line) for line in err.out.splitlines()]
        assert banner["message"] == "banner line" and banner["job_id"] == "j9"
        logs.configure("info", "text")
        logs.announce("plain")
        assert capsys.readouterr().out == "plain\n"
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PYEXEC_LOG_FORMAT", "yaml"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
)
def test_a_bad_value_stops_the_start_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    from pyexec.core.settings import SettingsError, load_settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_the_format_is_text_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyexec.core.settings import load_settings

    monkeypatch.delenv("PYEXEC_LOG_FORMAT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    settings = load_settings()
    assert settings.log_format == "text" and settings.otel_exporter_otlp_endpoint is None
    monkeypatch.setenv("PYEXEC_LOG_FORMAT", "json")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", " http://127.0.0.1:4318 ")
    settings = load_settings()
    assert settings.log_format == "json"
    assert settings.otel_exporter_otlp_endpoint == "http://127.0.0.1:4318"
