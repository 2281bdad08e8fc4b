"""The embedded backend: a GGUF chat model run in-process on the CPU by llama.cpp.

It is the zero-configuration default, so a fresh install works offline. The model is
loaded once per process and shared; llama.cpp contexts are not thread-safe, so calls
are serialised by a lock (a request that cannot get the model before its deadline gets
``OverloadedError``, the API's 529, rather than queueing forever). JSON-schema
constraints are enforced while decoding with llama.cpp's grammar support.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

# A missing llama-cpp-python fails this import; ``make_backend`` reports it as the
# missing [local] extra.
from llama_cpp import Llama

from promptmill.backends.base import ChatReply, ChatRequest
from promptmill.backends.embedded_models import resolve_model_path
from promptmill.errors import APIError, InvalidRequestError, OverloadedError

if TYPE_CHECKING:
    from promptmill.config import Settings


_MODEL_PARAMS_LOCK = threading.Lock()


@contextmanager
def without_weight_repacking() -> Iterator[None]:
    """Load models with llama.cpp's "extra buffer types" (CPU weight repacking) off.

    On CPUs with AMX (recent Xeons, such as the machines promptmill is built and tested
    on), llama.cpp builds of llama-cpp-python 0.3.36 crash with SIGSEGV in the first
    ``decode`` when weights are repacked into those buffers; llama.cpp's own CLI calls
    the switch ``--no-repack``. ``Llama()`` exposes no argument for it, so the default
    model parameters are wrapped for the duration of one load (under a lock, since the
    wrapper is process-wide). Builds whose parameters lack the field load unchanged.
    """
    import llama_cpp.llama_cpp as native

    original = native.llama_model_default_params

    def without_repacking() -> Any:
        params = original()
        if hasattr(params, "use_extra_bufts"):
            params.use_extra_bufts = False
        return params

    with _MODEL_PARAMS_LOCK:
        native.llama_model_default_params = without_repacking
        try:
            yield
        finally:
            native.llama_model_default_params = original


class LocalBackend:
    """A llama.cpp model behind the ``ChatBackend`` interface."""

    name = "local"

    def __init__(
        self,
        model_path: Path,
        *,
        model_id: str,
        threads: int | None = None,
        context: int = 4096,
        seed: int = 7,
    ) -> None:
        self.model = model_id
        self.model_path = model_path
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.context = context
        self.seed = seed
        started = time.perf_counter()
        with without_weight_repacking():
            self._llama: Llama = Llama(
                model_path=str(model_path),
                n_ctx=context,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                seed=seed,
                verbose=False,
            )
        self.load_seconds = time.perf_counter() - started
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBackend:
        path, model_id = resolve_model_path(settings.local_model, settings.model_cache_path)
        return cls(
            path, model_id=model_id, threads=settings.local_threads, context=settings.local_context
        )

    def chat(self, request: ChatRequest) -> ChatReply:
        if request.model is not None and request.model != self.model:
            raise InvalidRequestError(
                f"model: the local backend runs {self.model!r} and cannot switch to "
                f"{request.model!r} per request; start another server with "
                "PROMPTMILL_LOCAL_MODEL set to it"
            )
        deadline = time.monotonic() + request.timeout
        if not self._lock.acquire(timeout=max(0.0, request.timeout)):
            raise OverloadedError(
                "the local model is busy with other requests; retry later "
                "(or raise PROMPTMILL_REQUEST_TIMEOUT)"
            )
        try:
            return self._chat_locked(request, deadline)
        finally:
            self._lock.release()

    def _chat_locked(self, request: ChatRequest, deadline: float) -> ChatReply:
        """Stream the completion so the deadline can stop it between two tokens.

        Token counts are exact: the context holds exactly the prompt when the first token
        arrives, and each streamed chunk carries one generated token.
        """
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": t.role, "content": t.text} for t in request.turns)
        kwargs: dict[str, Any] = {}
        if request.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": request.json_schema}
        pieces: list[str] = []
        input_tokens: int | None = None
        try:
            chunks: Any = self._llama.create_chat_completion(
                messages=messages,  # type: ignore[arg-type]
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                seed=self.seed,
                stream=True,
                **kwargs,
            )
            for chunk in chunks:
                if input_tokens is None:
                    input_tokens = self._llama.n_tokens
                content = chunk["choices"][0]["delta"].get("content")
                if content is not None:
                    pieces.append(content)
                    if len(pieces) % 16 == 0 and _is_looping("".join(pieces[-200:])):
                        break  # small models can repeat a phrase until max_tokens; stop early
                if time.monotonic() > deadline:
                    raise APIError(
                        "local model did not finish within the request deadline "
                        f"({request.timeout:.0f}s left when it started)"
                    )
        except ValueError as exc:  # e.g. the prompt does not fit the context window
            raise APIError(f"local model could not run this request: {exc}") from exc
        return ChatReply(
            text="".join(pieces), input_tokens=input_tokens or 0, output_tokens=len(pieces)
        )


def _is_looping(recent: str) -> bool:
    """True when the output has fallen into repeating the same phrase over and over."""
    tail = recent[-40:]
    return len(tail) == 40 and recent.count(tail) >= 4
