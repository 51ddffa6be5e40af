"""The gateway client's pure parts: websocket frames, URLs, kernel ids, error messages."""

from __future__ import annotations

import json
import struct
import uuid
from datetime import datetime

import httpx
import pytest

from pyexec.kernels.gateway.api import _error_message, normalise_url
from pyexec.kernels.gateway.channels import decode_frame, encode_frame, new_message
from pyexec.kernels.gateway.launcher import is_tagged, new_gateway_kernel_id, worker_tag


def test_a_text_frame_becomes_a_jupyter_client_style_message() -> None:
    frame = json.dumps(
        {
            "header": {"msg_id": "a1", "msg_type": "status", "date": "2026-12-02T19:15:58.073101Z"},
            "parent_header": {"msg_id": "p1", "date": "2026-12-02T19:15:57.5Z"},
            "metadata": {},
            "content": {"execution_state": "idle"},
            "channel": "iopub",
            "buffers": [],
        }
    )
    msg = decode_frame(frame)
    assert msg["msg_type"] == "status" and msg["msg_id"] == "a1"
    assert msg["channel"] == "iopub" and msg["buffers"] == []
    assert isinstance(msg["header"]["date"], datetime)
    assert msg["header"]["date"].tzinfo is not None
    assert isinstance(msg["parent_header"]["date"], datetime)


def test_binary_frames_carry_buffers_in_jupyter_servers_layout() -> None:
    msg = new_message("comm_msg", {"data": {}}, session="s", username="u", channel="shell")
    frame = encode_frame(msg, [b"\x00\x01", b"abc"])
    assert isinstance(frame, bytes)
    # jupyter_server: count, then the offsets of the JSON and each buffer, big-endian.
    count, first, second, third = struct.unpack_from("!4I", frame)
    assert (count, first) == (3, 16)
    assert frame[second:third] == b"\x00\x01" and frame[third:] == b"abc"
    decoded = decode_frame(frame)
    assert decoded["buffers"] == [b"\x00\x01", b"abc"]
    assert decoded["content"] == {"data": {}} and decoded["channel"] == "shell"


@pytest.mark.parametrize(
    "frame",
    [b"\x00", struct.pack("!II", 5, 8), struct.pack("!III", 2, 20, 12) + b"{}", "[1, 2]", "{}"],
)
def test_frames_that_are_not_messages_are_refused(frame: str | bytes) -> None:
    with pytest.raises(ValueError):
        decode_frame(frame)


def test_outgoing_messages_are_signed_by_the_gateway_not_us() -> None:
    msg = new_message("execute_request", {"code": "1"}, session="s1", username="pyexec")
    assert set(msg) >= {"header", "parent_header", "metadata", "content", "channel"}
    assert msg["header"]["session"] == "s1" and msg["header"]["version"] == "5.3"
    assert msg["header"]["date"].endswith("Z")
    assert "signature" not in json.dumps(msg)
    assert json.loads(encode_frame(msg))["msg_id"] == msg["header"]["msg_id"]


def test_kernel_ids_are_uuid4_and_carry_their_workers_tag() -> None:
    tag = worker_tag("worker-a")
    kernel_id = new_gateway_kernel_id(tag)
    # What Enterprise Gateway demands of KERNEL_ID: a canonical version-4 UUID.
    assert str(uuid.UUID(kernel_id, version=4)) == kernel_id
    assert is_tagged(kernel_id, tag)
    assert not is_tagged(kernel_id, worker_tag("worker-b"))
    assert not is_tagged(str(uuid.uuid4()), tag)
    assert new_gateway_kernel_id(tag) != kernel_id


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("http://eg:8888/", "http://eg:8888"),
        (" https://eg.example/gateway/ ", "https://eg.example/gateway"),
    ],
)
def test_gateway_urls_are_normalised(url: str, normal: str) -> None:
    assert normalise_url(url) == normal


@pytest.mark.parametrize(
    "url", ["ftp://eg", "eg:8888", "http://user:pw@eg", "http://eg?x=1", "http://"]
)
def test_gateway_urls_that_cannot_work_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        normalise_url(url)


def _response(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("POST", "http://eg/api"))


def test_the_gateways_error_message_is_read_or_dug_out_of_its_traceback() -> None:
    assert (
        _error_message(_response(403, {"reason": "Forbidden", "message": "A max kernels limit"}))
        == "A max kernels limit"
    )
    dug = _error_message(
        _response(
            500,
            {
                "reason": "Internal Server Error",
                "message": "Unknown server error",
                "traceback": "Traceback ...\n  File x\nNoSuchKernel: No such kernel named nope\n",
            },
        )
    )
    assert dug == "NoSuchKernel: No such kernel named nope"
    assert _error_message(_response(401, {"reason": "Unauthorized", "message": ""})) == (
        "Unauthorized"
    )
    not_json = httpx.Response(502, text="<html>", request=httpx.Request("GET", "http://eg/api"))
    assert _error_message(not_json) == "Bad Gateway"
