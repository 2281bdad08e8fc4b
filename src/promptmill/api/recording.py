"""Call recording: every authenticated tool call, success or failure, becomes one ``CallRecord``.

Recording never changes the answer: a store that fails to write is logged, and the
response goes out as it would have.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from promptmill.api.state import AppState

if TYPE_CHECKING:
    from promptmill.store import ApiKeyInfo

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

    async def record(
        self,
        *,
        status: int,
        error_type: str | None = None,
        response: dict[str, Any] | None = None,
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
            model=engine.backend.model if engine else "",
            usage=list(response["usage"]) if response else [],
            latency_ms=(time.perf_counter() - self.started) * 1000.0,
            status=status,
            error_type=error_type,
            request=self.request_json,
            response=response,
        )
        store = self.state.store
        if store is None:
            return
        try:
            await anyio.to_thread.run_sync(store.record_call, record)
        except Exception:
            logger.exception(
                "could not record %s call %s; the response is unaffected",
                self.endpoint,
                self.request_id,
            )
