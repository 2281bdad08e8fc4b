"""The history API (a promptmill extension): a workspace's recorded calls, read-only.

- ``GET /v1/promptmill/history?limit=N``: the key's workspace's recent calls, newest first;
- ``GET /v1/promptmill/history/{call_id}``: one of them.

A call belongs to a workspace, not to a key, so every key of a workspace sees the same
history. The key is checked as on the tool routes (``x-api-key`` or a Bearer token);
errors use the API's error body, through the app's exception handlers. The playground
page reads it, and so can anyone with a key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request

from promptmill.api.auth import ApiKeyHeader, AuthorizationHeader, authenticate_key
from promptmill.api.capacity import run_store
from promptmill.api.json_body import wire_safe
from promptmill.api.state import app_state
from promptmill.errors import APIError, NotFoundError
from promptmill.protocol import HISTORY_PATH

if TYPE_CHECKING:
    from promptmill.store import Store

router = APIRouter(tags=["history"])

_ENTRY_OPERATION = "#/paths/" + (HISTORY_PATH + "/{call_id}").replace("/", "~1") + "/get"
LINK_TO_RECORDED_CALL: dict[str, Any] = {
    "RecordedCall": {
        "operationRef": _ENTRY_OPERATION,
        "parameters": {"call_id": "$response.header.request-id"},
        "description": "A call's request-id is its id in the workspace's history.",
    }
}
"""OpenAPI ``links`` of a tool answer: where its record can be read back."""

_MAX_HISTORY = 200
# What the history shows of a call: no key id, the rest as the store keeps it.
_SHOWN_FIELDS = (
    "id",
    "endpoint",
    "created_at",
    "target_model",
    "backend",
    "model",
    "status",
    "error_type",
    "latency_ms",
    "usage",
    "input_tokens",
    "output_tokens",
    "reused_input_tokens",
    "evaluated_input_tokens",
    "model_seconds",
    "request",
    "response",
)


def _store_of(request: Request) -> Store:
    store = app_state(request).store
    if store is None:
        raise APIError("the key store is not ready")
    return store


@router.get(
    HISTORY_PATH,
    responses={
        200: {
            "links": {
                "FirstCall": {
                    "operationRef": _ENTRY_OPERATION,
                    "parameters": {"call_id": "$response.body#/data/0/id"},
                }
            }
        }
    },
)
async def list_history(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=_MAX_HISTORY)] = 50,
    x_api_key: ApiKeyHeader = None,
    authorization: AuthorizationHeader = None,
) -> dict[str, Any]:
    """The workspace's most recent calls, newest first, with their requests and responses."""
    key = await authenticate_key(request, x_api_key, authorization)
    calls = await run_store(
        app_state(request).capacity,
        lambda: _store_of(request).recent_calls(key.workspace, limit=limit),
    )
    return {"workspace": key.workspace, "data": [_call_view(call.to_dict()) for call in calls]}


@router.get(HISTORY_PATH + "/{call_id}")
async def get_history_entry(
    request: Request,
    call_id: str,
    x_api_key: ApiKeyHeader = None,
    authorization: AuthorizationHeader = None,
) -> dict[str, Any]:
    """One recorded call of the workspace; ``not_found_error`` for another workspace's call."""
    key = await authenticate_key(request, x_api_key, authorization)
    call = await run_store(
        app_state(request).capacity, lambda: _store_of(request).get_call(key.workspace, call_id)
    )
    if call is None:
        raise NotFoundError(f"no call {call_id!r} in this workspace's history")
    return _call_view(call.to_dict())


def _call_view(call: dict[str, Any]) -> dict[str, Any]:
    """The shown fields, made encodable: rows stored before bodies were checked may
    hold lone surrogates or non-finite numbers, and must not make every read a 500."""
    return {name: wire_safe(call.get(name)) for name in _SHOWN_FIELDS}
