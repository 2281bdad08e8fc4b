"""The baseline of the overhead benchmark: a bare proxy in front of the same backend.

What a user would write instead of promptmill: one FastAPI endpoint that accepts the
``generate_prompt`` body (validated by a pydantic model), sends the backend the same
chat-completions call(s) a promptmill ``generate_prompt`` sends, through the same SDK
(``openai``, one ``AsyncOpenAI`` client for the process, retries off as in promptmill),
and answers with the model's reply in the same response shape. No key check, no
headers, no plan/render/validate, no call record: the difference between it and
promptmill, both in front of the instant fake, is promptmill's own work per request.

The calls to make are read at start-up from the JSON file named by
``PROMPTMILL_BENCH_BARE_CALLS``: a list of chat-completions bodies, as promptmill sent
them for the benchmark's task (``run.capture_backend_calls``), and the task they were
made for. Each request's own task replaces that task in every message, as a template
would. ``PROMPTMILL_BENCH_BARE_BACKEND`` is the backend's base URL.

    PROMPTMILL_BENCH_BARE_CALLS=calls.json PROMPTMILL_BENCH_BARE_BACKEND=http://127.0.0.1:9/v1 \
        python -m uvicorn bench.overhead.bare_app:app --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from openai import AsyncOpenAI
from pydantic import BaseModel, Field

CALLS_VARIABLE = "PROMPTMILL_BENCH_BARE_CALLS"
BACKEND_VARIABLE = "PROMPTMILL_BENCH_BARE_BACKEND"


class GenerateBody(BaseModel):
    task: str
    target_model: str | None = Field(default=None, min_length=1, max_length=256)


class _Proxy:
    """What the endpoint needs, made once at start-up: the client and the calls to make."""

    def __init__(self) -> None:
        captured = json.loads(Path(os.environ[CALLS_VARIABLE]).read_text())
        self.task: str = captured["task"]
        self.calls: list[dict[str, Any]] = captured["calls"]
        self.client = AsyncOpenAI(
            api_key="test", base_url=os.environ[BACKEND_VARIABLE], max_retries=0
        )

    def call_for(self, call: dict[str, Any], task: str) -> dict[str, Any]:
        messages = [
            {**message, "content": str(message["content"]).replace(self.task, task)}
            for message in call["messages"]
        ]
        return {**call, "messages": messages}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    proxy = _Proxy()
    app.state.proxy = proxy
    yield
    await proxy.client.close()


app = FastAPI(title="bare proxy (promptmill overhead baseline)", lifespan=_lifespan)


@app.post("/v1/experimental/generate_prompt")
async def generate_prompt(body: GenerateBody, request: Request) -> dict[str, Any]:
    proxy: _Proxy = request.app.state.proxy
    usage = []
    text = ""
    for call in proxy.calls:
        completion = await proxy.client.chat.completions.create(**proxy.call_for(call, body.task))
        text = completion.choices[0].message.content or ""
        tokens = completion.usage
        usage.append(
            {
                "input_tokens": tokens.prompt_tokens if tokens else 0,
                "output_tokens": tokens.completion_tokens if tokens else 0,
            }
        )
    return {
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        "system": "",
        "usage": usage,
    }
