"""A scripted OpenAI-compatible chat-completions server for fault tests (127.0.0.1 only).

Each request is keyed (for the toy counter task: ``(target, step)``, read from the messages) and
takes the next behaviour scripted for its key, or the default behaviour:

    ok()                    200 with a completion and a ``usage`` block (unique token counts)
    status(code, ...)       an error status with a JSON error body (optional headers, e.g. Retry-After)
    rate_limited(s)         429 with ``Retry-After: s``
    malformed()             200, ``application/json``, a cut-off JSON body
    slow(max_s)             answers nothing until the client hangs up (its timeout) or ``max_s``
    drop()                  closes the socket without answering
    echo_auth(code)         an error whose message echoes the request's Authorization header

Every attempt is recorded (arrival time, key, behaviour, retry-count and idempotency headers, the
usage sent), and the server tracks how many requests it was working on at once (``max_in_flight``).
``stop()`` releases waiting handlers and joins every thread it started.
"""
from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Hashable

COMPLETION = "Thought: The counter is below the target, so I count up.\nAction: inc"


@dataclass(frozen=True)
class Behaviour:
    kind: str  # ok | status | malformed | slow | drop
    code: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    echo_auth: bool = False
    max_s: float = 10.0
    delay_s: float = 0.0  # ok: server-side latency before answering
    text: str | None = None


def ok(delay_s: float = 0.0, text: str | None = None) -> Behaviour:
    return Behaviour("ok", delay_s=delay_s, text=text)


def status(code: int = 500, headers: dict[str, str] | None = None, echo_auth: bool = False) -> Behaviour:
    return Behaviour("status", code=code, headers=tuple((headers or {}).items()), echo_auth=echo_auth)


def rate_limited(retry_after: float) -> Behaviour:
    value = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
    return status(429, {"Retry-After": value})


def malformed() -> Behaviour:
    return Behaviour("malformed")


def slow(max_s: float = 10.0) -> Behaviour:
    return Behaviour("slow", max_s=max_s)


def drop() -> Behaviour:
    return Behaviour("drop")


def echo_auth(code: int = 401) -> Behaviour:
    return status(code, echo_auth=True)


@dataclass
class Attempt:
    key: Hashable
    behaviour: Behaviour
    arrived: float  # time.monotonic() when the request was read
    answered: float | None = None  # when the response (or the hang-up) happened
    retry_count: str | None = None  # x-stainless-retry-count header
    idempotency_key: str | None = None
    authorization: str | None = None
    usage: dict[str, int] | None = None  # the usage block of an ok response
    sent: bytes = b""  # the body sent (for error responses)
    client_gave_up: bool = False  # slow(): the client closed the connection first


_TARGET = re.compile(r"Target (-?\d+)\.")


def counter_key(body: dict) -> Hashable:
    """(target, step) of a toy counter request: which episode, which turn."""
    msgs = body.get("messages") or []
    target = None
    for m in msgs:
        found = _TARGET.search(str(m.get("content", "")))
        if found:
            target = int(found.group(1))
            break
    step = sum(1 for m in msgs if m.get("role") == "assistant")
    return (target, step)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True
    request_queue_size = 256  # a burst of connects must not overflow the accept backlog
    allow_reuse_address = True


class FaultServer:
    def __init__(self, default: Behaviour | None = None, key_fn: Callable[[dict], Hashable] = counter_key):
        self.default = default or ok()
        self.key_fn = key_fn
        self.attempts: list[Attempt] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: dict[Hashable, deque[Behaviour]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counter = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ control

    def script(self, key: Hashable, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests with ``key`` (then the default applies)."""
        with self._lock:
            self._script[key].extend(behaviours)

    def reset(self, default: Behaviour | None = None) -> None:
        with self._lock:
            self._script.clear()
            self.attempts = []
            self.max_in_flight = self.in_flight
            if default is not None:
                self.default = default

    def pending(self) -> dict[Hashable, int]:
        with self._lock:
            return {k: len(v) for k, v in self._script.items() if v}

    def attempts_for(self, key: Hashable) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.key == key]

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "FaultServer":
        self._httpd = _HTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # releases slow() handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()  # joins the handler threads (block_on_close)
        if self._thread is not None:
            self._thread.join(10)
            assert not self._thread.is_alive(), "fault server thread did not stop"

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ serving

    def _next(self, key: Hashable) -> Behaviour:
        with self._lock:
            queue = self._script.get(key)
            return queue.popleft() if queue else self.default

    def _enter(self, attempt: Attempt) -> None:
        with self._lock:
            self.attempts.append(attempt)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self, attempt: Attempt) -> None:
        """Called *before* the answer is written: a client cannot see the answer (and send its next
        request) while this request still counts as in flight, so the peak is never over-counted."""
        with self._lock:
            self.in_flight -= 1
            attempt.answered = time.monotonic()

    def _usage(self) -> dict[str, int]:
        with self._lock:
            self._counter += 1
            n = self._counter
        prompt, completion = 1000 + 37 * n, 5 + n % 11
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads

            def log_message(self, *args: Any) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeouts, slow())

            def _send(self, code: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, b'{"error": {"message": "bad json"}}')
                    return
                key = server.key_fn(body)
                b = server._next(key)
                att = Attempt(key=key, behaviour=b, arrived=time.monotonic(),
                              retry_count=self.headers.get("x-stainless-retry-count"),
                              idempotency_key=self.headers.get("Idempotency-Key"),
                              authorization=self.headers.get("Authorization"))
                server._enter(att)
                try:
                    self._behave(b, att, body)
                finally:
                    if att.answered is None:
                        server._leave(att)

            def _behave(self, b: Behaviour, att: Attempt, body: dict) -> None:
                if b.kind == "ok":
                    if b.delay_s and server._stop.wait(b.delay_s):
                        return
                    usage = server._usage()
                    resp = {
                        "id": f"chatcmpl-{len(server.attempts)}", "object": "chat.completion",
                        "created": int(time.time()), "model": body.get("model", "fault"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": b.text or COMPLETION}}],
                        "usage": usage,
                    }
                    att.usage = usage
                    server._leave(att)
                    self._send(200, json.dumps(resp).encode())
                elif b.kind == "status":
                    msg = f"scripted error {b.code}"
                    if b.echo_auth:
                        msg += f"; you sent Authorization: {self.headers.get('Authorization')}"
                    err = {"error": {"message": msg, "type": "server_error", "code": b.code,
                                     "headers": dict(self.headers) if b.echo_auth else None},
                           "usage": {"prompt_tokens": 999_999, "completion_tokens": 999_999}}  # never counted
                    att.sent = json.dumps(err).encode()
                    server._leave(att)
                    self._send(b.code, att.sent, b.headers)
                elif b.kind == "malformed":
                    att.sent = b'{"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"index": 0, "mess'
                    server._leave(att)
                    self._send(200, att.sent)
                elif b.kind == "slow":
                    att.client_gave_up = self._wait_for_hangup(b.max_s)
                    self.close_connection = True
                elif b.kind == "drop":
                    server._leave(att)
                    self.close_connection = True  # no status line, no headers: the socket just closes
                else:
                    raise ValueError(f"unknown behaviour {b.kind!r}")

            def _wait_for_hangup(self, max_s: float) -> bool:
                """Say nothing until the client closes its end (True), max_s passes or the server stops."""
                conn: socket.socket = self.connection
                deadline = time.monotonic() + max_s
                while not server._stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    readable, _, _ = select.select([conn], [], [], min(left, 0.1))
                    if readable:
                        try:
                            return conn.recv(1, socket.MSG_PEEK) == b""
                        except OSError:
                            return True
                return False

        return Handler
