"""Call recording: every authenticated tool call, success or failure, becomes one ``CallRecord``.

Recording never changes the answer: a store that fails to write is logged, and the
response goes out as it would have.

What is kept of the bodies is bounded. By default a record holds the token counts and
only the sizes of the bodies: its ``request`` is ``{"body_bytes": N, "response_bytes":
M}`` (``M`` null for a failed call) and its ``response`` is null, so one huge request
costs the database a few bytes, and a history page stays small. With
``PROMPTMILL_STORE_BODIES`` on, the request and response are kept verbatim when both
fit ``PROMPTMILL_STORED_BODY_MAX_BYTES``, and recorded by size otherwise.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from promptmill.api.capacity import run_store
from promptmill.api.state import AppState

if TYPE_CHECKING:
    from promptmill.store import ApiKeyInfo
    from promptmill.store.records import UsageEntry

logger = logging.getLogger("promptmill.api")


class CallRecorder:
    """Collects what a call did and writes one ``CallRecord``; never raises."""

    def __init__(self, state: AppState, key: ApiKeyInfo, endpoint: str, request_id: str) -> None:
        self.state = state
        self.key = key
        self.endpoint = endpoint
        self.request_id = request_id
        self.started = time.perf_counter()
        self.request_json: dict[str, Any] = {}
        self.body_bytes = 0
        # The model the call ran on when the request named one (``cases/generate``'s
        # ``model``); otherwise the backend's own.
        self.model: str | None = None

    async def record(
        self,
        *,
        status: int,
        error_type: str | None = None,
        response: dict[str, Any] | None = None,
        usage: Sequence[Any] | None = None,
    ) -> None:
        """Write the record in the store's thread pool (from the event loop).

        ``usage`` is the engine's own (``MeteredUsage`` entries carry reused/evaluated
        input tokens and seconds, which the response body has no room for); without it
        the response body's ``usage`` is recorded.
        """
        await run_store(
            self.state.capacity,
            partial(
                self.record_blocking,
                status=status,
                error_type=error_type,
                response=response,
                usage=usage,
            ),
        )

    def record_blocking(
        self,
        *,
        status: int,
        error_type: str | None = None,
        response: dict[str, Any] | None = None,
        usage: Sequence[Any] | None = None,
    ) -> None:
        """Write the record from a worker thread that is already off the event loop."""
        self._write(
            status=status,
            error_type=error_type,
            usage=list(usage) if usage is not None else list(response["usage"]) if response else [],
            response_bytes=None if response is None else _json_size(response),
            response=lambda: response,
        )

    def record_answer_blocking(self, answer_json: str, usage: Sequence[UsageEntry]) -> None:
        """Record a successful answer, already serialized as ``answer_json`` (the body sent).

        A tool call records its answer in the model-pool thread that ran it, so a request
        costs one trip to a worker thread rather than two; the answer is serialized once
        there, and parsed again only to be kept verbatim (``PROMPTMILL_STORE_BODIES``).
        ``usage`` is the engine's own, with its per-call details.
        """
        self._write(
            status=200,
            error_type=None,
            usage=usage,
            response_bytes=len(answer_json.encode()),
            response=lambda: json.loads(answer_json),
        )

    def _write(
        self,
        *,
        status: int,
        error_type: str | None,
        usage: Sequence[UsageEntry],
        response_bytes: int | None,
        response: Callable[[], dict[str, Any] | None],
    ) -> None:
        from promptmill.store import CallRecord

        engine = self.state.engine
        target_model = self.request_json.get("target_model")
        record = CallRecord(
            id=self.request_id or None,
            key_id=self.key.id,
            workspace=self.key.workspace,
            endpoint=self.endpoint,
            target_model=target_model if isinstance(target_model, str) else None,
            backend=engine.backend.name if engine else "",
            model=self.model or (engine.backend.model if engine else ""),
            usage=usage,
            latency_ms=(time.perf_counter() - self.started) * 1000.0,
            status=status,
            error_type=error_type,
            **self._bodies(response_bytes, response),
        )
        store = self.state.store
        if store is None:
            return
        try:
            store.record_call(record)
        except Exception:
            logger.exception(
                "could not record %s call %s; the response is unaffected",
                self.endpoint,
                self.request_id,
            )

    def _bodies(
        self, response_bytes: int | None, response: Callable[[], dict[str, Any] | None]
    ) -> dict[str, Any]:
        """The ``request`` and ``response`` to record: verbatim if allowed and small, else sizes."""
        cap = self.state.store_bodies_up_to
        if cap is not None and self.body_bytes <= cap and (response_bytes or 0) <= cap:
            return {"request": self.request_json, "response": response()}
        return {
            "request": {"body_bytes": self.body_bytes, "response_bytes": response_bytes},
            "response": None,
        }


def _json_size(value: dict[str, Any]) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (as the response carried it, give or take)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
