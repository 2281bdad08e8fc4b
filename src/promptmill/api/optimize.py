"""``POST /v1/promptmill/optimize``: optimize a prompt on labelled cases (a promptmill extension).

It is served exactly like the Prompt Tools endpoints (``tools.serve_tool_call``): the
key, ``anthropic-version`` and ``anthropic-beta`` checks, the rate limit, the body
parsed into ``OptimizeRequest`` (a 400 names the field), the call recorded, and the
engine run in a worker thread, or streamed as Server-Sent Events with ``"stream": true``
or ``Accept: text/event-stream``. The progress events carry the model calls spent so
far and the budget (``OptimizeProgress``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from promptmill.api.openapi import ERROR_RESPONSES
from promptmill.api.optimize_schemas import OptimizeRequest
from promptmill.api.streaming import STREAM_CONTENT
from promptmill.api.tools import Tool, serve_tool_call, tool_route_openapi
from promptmill.engine.optimize import PromptOptimizer
from promptmill.optimize_types import OptimizeResult
from promptmill.protocol import OPTIMIZE_PATH
from promptmill.types import ProgressCallback

if TYPE_CHECKING:
    from promptmill.engine import PromptEngine


def _run_optimize(
    engine: PromptEngine, params: OptimizeRequest, on_progress: ProgressCallback | None
) -> OptimizeResult:
    optimizer = PromptOptimizer(
        engine.backend,
        concurrency=params.concurrency,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        timeout=engine.request_timeout,
    )
    return optimizer.optimize(
        params.cases,
        params.graders,
        prompt=params.prompt.to_template() if params.prompt is not None else None,
        task=params.task,
        target_model=params.target_model,
        budget=params.budget,
        held_out_fraction=params.held_out_fraction,
        seed=params.seed,
        on_progress=on_progress,
    )


_OPTIMIZE = Tool("optimize", OptimizeRequest, _run_optimize)

REQUEST_MODELS: tuple[type[BaseModel], ...] = (OptimizeRequest,)

router = APIRouter()


@router.post(
    OPTIMIZE_PATH,
    summary="Optimize a prompt on labelled cases",
    description="Propose candidates for a prompt (or for a prompt generated from `task`): the "
    "original, an improvement written from its failing training cases, few-shot variants "
    "with examples from the training cases, with and without a reasoning instruction. Each "
    "is scored on the training cases (never on those it shows), the best is scored on the "
    "held-out cases too. The answer is the best prompt, its scores beside the original's, "
    "and every candidate tried; it never scores below the original on the training cases. "
    "`budget` bounds the model calls.",
    response_model=OptimizeResult,
    openapi_extra=tool_route_openapi(OptimizeRequest),
    responses={200: {"content": STREAM_CONTENT}, **ERROR_RESPONSES},
    tags=["promptmill extensions"],
)
async def optimize_prompt(request: Request) -> BaseModel | Response:
    return await serve_tool_call(request, _OPTIMIZE)
