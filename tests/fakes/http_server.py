"""What the fake vendor servers share: a script of replies and a real HTTP server.

Each fake is a Starlette app served by uvicorn on 127.0.0.1 at a free port, in a
background thread (``with Fake() as fake``) or as its own process (``python -m
tests.fakes.openai_server --port 0``). Tests queue scripted replies (text, JSON,
errors, delays); when the queue is empty the fake answers like a cooperative model.
Everything the fake received is kept in ``requests`` (JSON bodies) and
``request_headers`` so tests can assert on the real wire traffic. For fault tests a
fake can ``hang`` (hold every request unanswered until ``release``) and crash
(``stop``: connections are refused from then on); as a process, SIGSTOP hangs it and
SIGKILL crashes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import uvicorn
from starlette.applications import Starlette

from tests.fakes.schema_instance import words_of

ReplyKind = Literal["default", "text", "json", "error"]

# Replies embed a JSON schema after this phrase when they cannot enforce one; the
# fakes recognise it and answer with an instance, as an instruction-following model would.
_EMBEDDED_SCHEMA = re.compile(r"JSON schema[^{]*(\{.*\})", re.DOTALL | re.IGNORECASE)


@dataclass
class ScriptedReply:
    """One queued answer; ``delay`` seconds pass before it is sent."""

    kind: ReplyKind
    text: str = ""
    payload: Any = None
    status: int = 200
    message: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about four characters per token."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def default_text_reply(prompt: str) -> str:
    """What the cooperative fake says to a plain chat: a short answer on the prompt's words."""
    words = words_of(prompt)[:40]
    return "Here is a response about " + " ".join(words) + "."


def embedded_schema(text: str) -> dict[str, Any] | None:
    """A JSON schema spelled out in the prompt text after the words 'JSON schema', if any."""
    match = _EMBEDDED_SCHEMA.search(text)
    if not match:
        return None
    # raw_decode reads the first complete JSON value and ignores any prose after it.
    try:
        value, _ = json.JSONDecoder().raw_decode(match.group(1))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class FakeServer:
    """Base of the fakes: the reply script, the request log, and the server thread."""

    def __init__(self, *, api_key: str | None = None) -> None:
        # When set, requests carrying any other key get the vendor's 401.
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []
        self._script: deque[ScriptedReply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        # Cleared by ``hang``: requests then wait, unanswered, until ``release``.
        self._answering = threading.Event()
        self._answering.set()
        self.hung_requests = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    # -- the script -------------------------------------------------------------

    def enqueue_text(self, text: str, *, delay: float = 0.0) -> None:
        """The next reply is this plain text."""
        self._push(ScriptedReply("text", text=text, delay=delay))

    def enqueue_json(self, value: Any, *, delay: float = 0.0) -> None:
        """The next reply is this JSON value (as a tool call or JSON content, per vendor)."""
        self._push(ScriptedReply("json", payload=value, delay=delay))

    def enqueue_error(
        self,
        status: int,
        *,
        message: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> None:
        """The next reply is the vendor's error body for ``status`` (``retry-after`` if given)."""
        self._push(
            ScriptedReply(
                "error", status=status, message=message, retry_after=retry_after, delay=delay
            )
        )

    def enqueue_delay(self, seconds: float) -> None:
        """The next reply is the cooperative default, sent only after ``seconds``."""
        self._push(ScriptedReply("default", delay=seconds))

    def _push(self, reply: ScriptedReply) -> None:
        with self._lock:
            self._script.append(reply)

    def next_reply(self) -> ScriptedReply:
        with self._lock:
            return self._script.popleft() if self._script else ScriptedReply("default")

    def record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(headers)

    async def wait(self, seconds: float) -> None:
        """Sleep for a scripted delay, cut short when the server shuts down."""
        end = time.monotonic() + seconds
        while not self._closing.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.05))

    # -- faults -----------------------------------------------------------------

    def hang(self) -> None:
        """From now on, hold every request unanswered (a wedged upstream) until ``release``."""
        self._answering.clear()

    def release(self) -> None:
        """Answer again, including the requests held so far."""
        self._answering.set()

    async def hold_while_hung(self) -> None:
        """Called first by each handler: waits while the fake is hung (or until it stops)."""
        if self._answering.is_set():
            return
        with self._lock:
            self.hung_requests += 1
        try:
            while not self._answering.is_set() and not self._closing.is_set():
                await asyncio.sleep(0.02)
        finally:
            with self._lock:
                self.hung_requests -= 1

    # -- the server -------------------------------------------------------------

    def build_app(self) -> Starlette:
        raise NotImplementedError

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give the vendor's SDK as ``base_url``."""
        return self.root_url

    def _bind(self, port: int = 0) -> socket.socket:
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto
        # says TCP, and with Nagle on, every response waited ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._socket = sock
        return sock

    def _make_server(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.build_app(),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        return uvicorn.Server(config)

    def start(self) -> Self:
        """Serve in a background thread; returns once the server accepts connections."""
        sock = self._bind()
        self._server = self._make_server()
        server = self._server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self, port: int) -> None:
        """Run in the foreground (own process): print the base URL, flush, serve until killed."""
        sock = self._bind(port)
        print(self.base_url, flush=True)
        self._make_server().run(sockets=[sock])


def run_as_process(fake_class: type[FakeServer], description: str) -> None:
    """The ``python -m tests.fakes.<vendor>_server`` entry point."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any)")
    parser.add_argument(
        "--reject-json-schema",
        action="store_true",
        help="answer response_format json_schema with 400, like many local servers (OpenAI only)",
    )
    args = parser.parse_args()
    options: dict[str, Any] = {"api_key": args.api_key}
    if args.reject_json_schema:
        options["reject_json_schema"] = True
    try:
        fake_class(**options).serve_forever(args.port)
    except KeyboardInterrupt:
        sys.exit(0)
