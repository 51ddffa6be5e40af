"""A scripted OpenAI-compatible chat-completions server for tests, on a loopback socket.

It replaces only the model: PyExec talks to it with the real `openai` client over HTTP, in
streaming or plain mode, with tool calls or plain text. Each test scripts its replies under a
key, a string that appears in the job's prompt, so that jobs of different tests never take
each other's replies; every request is recorded with its headers and body.

    llm = ScriptedLLM().start()
    llm.script("[t-mean]", run_python("print(df.x.mean())"), final_answer("The mean is 2."))
    ...  # a job whose prompt contains "[t-mean]"
    llm.requests_for("[t-mean]")[1]["body"]["messages"][-1]  # the tool result it was sent
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMPLETIONS_PATH = "/v1/chat/completions"


@dataclass
class Reply:
    """One scripted answer: a completion (content and/or tool calls) or an HTTP error."""

    content: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON)
    prompt_tokens: int = 100
    completion_tokens: int = 20
    status: int = 200
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering


def run_python(code: str, text: str | None = None, **usage: int) -> Reply:
    return Reply(content=text, tool_calls=[("run_python", json.dumps({"code": code}))], **usage)


def final_answer(text: str, **usage: int) -> Reply:
    return Reply(tool_calls=[("final_answer", json.dumps({"text": text}))], **usage)


def say(content: str, **usage: int) -> Reply:
    return Reply(content=content, **usage)


def http_error(status: int, message: str = "scripted error", **headers: str) -> Reply:
    # A short Retry-After keeps the client's backoff, which honours it, quick in tests.
    return Reply(status=status, error=message, headers={"retry-after-ms": "20", **headers})


class ScriptedLLM:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._scripts: dict[str, deque[Reply]] = {}
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ScriptedLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, key: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[key] = deque(replies)

    def requests_for(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["key"] == key]

    def wait_for_requests(self, key: str, count: int = 1, timeout: float = 30.0) -> None:
        """Block until `count` requests under `key` arrived (run it in a thread from async)."""
        with self._lock:
            arrived = self._lock.wait_for(
                lambda: sum(r["key"] == key for r in self.requests) >= count, timeout
            )
        if not arrived:
            raise TimeoutError(f"{count} request(s) for {key!r} did not arrive in {timeout} s")

    def remaining(self, key: str) -> int:
        with self._lock:
            return len(self._scripts.get(key, ()))

    # -- called from the server's threads --------------------------------------------------

    def _take(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        opening = _first_user_text(body)
        with self._lock:
            # The request comes last in the opening message; a follow-up's parent's prompt,
            # quoted before it, must not take the parent's script.
            found = [(opening.rfind(k), k) for k in self._scripts if k and k in opening]
            key = max(found)[1] if found else None
            self.requests.append({"path": path, "headers": headers, "body": body, "key": key})
            self._lock.notify_all()
            if key is None:
                return http_error(400, "no script matches this request")
            script = self._scripts[key]
            if not script:
                return http_error(400, f"script {key!r} has no replies left")
            return script.popleft()

    def _completion_id(self) -> str:
        return f"chatcmpl-{next(self._ids)}"


def _first_user_text(body: dict[str, Any]) -> str:
    for message in body.get("messages") or []:
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _handler_for(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep test output quiet

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            if self.path != COMPLETIONS_PATH:
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            body = json.loads(raw or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = llm._take(self.path, headers, body)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.status != 200:
                error = {"message": reply.error, "type": "scripted", "code": reply.status}
                self._json(reply.status, {"error": error}, reply.headers)
            elif body.get("stream"):
                self._stream(reply, body)
            else:
                self._json(200, _completion(llm._completion_id(), body, reply))

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self._write(data)

        def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            for chunk in _chunks(llm._completion_id(), body, reply, include_usage):
                self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")

        def _chunk(self, data: bytes) -> None:
            self._write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        def _write(self, data: bytes) -> None:
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout under test)

    return Handler


def _usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _completion(completion_id: str, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{completion_id}_{i}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            for i, (name, arguments) in enumerate(reply.tool_calls)
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": _usage(reply),
    }


def _pieces(text: str, n: int = 3) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _chunks(
    completion_id: str, body: dict[str, Any], reply: Reply, include_usage: bool
) -> list[dict[str, Any]]:
    """The reply as a client sees it streamed: content and tool arguments in pieces."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    if reply.content:
        chunks += [chunk({"content": piece}) for piece in _pieces(reply.content)]
    for i, (name, arguments) in enumerate(reply.tool_calls):
        head = {"index": i, "id": f"call_{completion_id}_{i}", "type": "function"}
        chunks.append(chunk({"tool_calls": [{**head, "function": {"name": name}}]}))
        chunks += [
            chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
            for piece in _pieces(arguments)
        ]
    chunks.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    if include_usage:
        chunks.append({**chunk({}), "choices": [], "usage": _usage(reply)})
    return chunks
