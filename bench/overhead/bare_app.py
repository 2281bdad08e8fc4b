"""The baseline for the overhead benchmark: the least a FastAPI JSON endpoint can do.

It accepts the same request body as ``generate_prompt`` (validated by a pydantic
model) and returns a fixed response of the same shape, so the difference between it
and promptmill, served the same way, is promptmill's own work per request: auth,
headers, the engine pipeline, backend HTTP calls to the instant fake, call records.

    python -m uvicorn bench.overhead.bare_app:app --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI(title="bare JSON endpoint (promptmill overhead baseline)")


class GenerateBody(BaseModel):
    task: str
    target_model: str | None = Field(default=None, min_length=1, max_length=256)


_RESPONSE: dict[str, object] = {
    "messages": [
        {
            "role": "user",
            "content": [{"type": "text", "text": "You are a chef. <request>{{REQUEST}}</request>"}],
        }
    ],
    "system": "",
    "usage": [{"input_tokens": 1, "output_tokens": 1}],
}


@app.post("/v1/experimental/generate_prompt")
async def generate_prompt(body: GenerateBody) -> dict[str, object]:
    return _RESPONSE
