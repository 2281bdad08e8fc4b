"""A tiny real HTTP server that answers the Prompt Tools paths from a script.

The client's retry, header and error-mapping rules are about what happens on the wire
when a server misbehaves in a precise way (529, then 200; a 429 with ``retry-after``;
a hang), which the real promptmill server cannot be made to do on demand. This one
speaks plain HTTP on loopback (uvicorn, via the fakes' runner) and records every
request's path, headers and body.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.http_server import FakeServer

OK_BODY: dict[str, Any] = {
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Plan meals for {{CUSTOMER}}"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<plan>"}]},
    ],
    "system": "",
    "usage": [{"input_tokens": 12, "output_tokens": 34}],
}


def error_body(error_type: str, message: str = "scripted") -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: OK_BODY)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0


class ScriptedAPIServer(FakeServer):
    """Answers each request with the next scripted ``Answer`` (200 ``OK_BODY`` when empty)."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: deque[Answer] = deque()
        self.request_paths: list[str] = []

    def answer(self, status: int = 200, body: Any = None, **options: Any) -> None:
        self.answers.append(Answer(status, OK_BODY if body is None else body, **options))

    def build_app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            raw = await request.body()
            # As sent, percent-escapes included (``url.path`` would decode them).
            self.request_paths.append(request.scope["raw_path"].decode("ascii"))
            self.record(json.loads(raw) if raw else {}, dict(request.headers))
            answer = self.answers.popleft() if self.answers else Answer()
            if answer.delay:
                await self.wait(answer.delay)
                await asyncio.sleep(0)
            content = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
            headers = {"request-id": f"req_scripted_{len(self.requests)}", **answer.headers}
            return Response(content, answer.status, headers=headers, media_type=answer.content_type)

        return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST", "PUT"])])
