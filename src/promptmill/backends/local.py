"""The embedded backend: a GGUF chat model run in-process on the CPU by llama.cpp.

It is the zero-configuration default, so a fresh install works offline. The model is
loaded once per process and shared; llama.cpp contexts are not thread-safe, so calls
are serialised by a lock. The queue before it is bounded: at most ``max_queue`` calls
wait while one runs, and the next is refused at once with ``OverloadedError`` (the
API's 529, with ``retry-after``); a waiting call that cannot get the model before its
deadline gets the same, rather than queueing forever. JSON-schema
constraints are enforced while decoding with llama.cpp's grammar support, checked per
sampled token (``lazy_grammar``) rather than over the whole vocabulary.
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
from promptmill.backends.faults import out_of_time
from promptmill.backends.lazy_grammar import LazyGrammarLlama
from promptmill.backends.prefix_states import PrefixStates, family_of, shared_prefix
from promptmill.errors import APIError, InvalidRequestError, OverloadedError

BUSY_RETRY_AFTER = 2.0
"""Seconds a caller refused by the busy embedded model is told to wait."""

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

    warms_up = True
    """The server has it read the planner's fixed prompt at start-up (``PromptEngine.warm_up``):
    seconds of prompt evaluation that cost nothing but time here, where a remote API
    would bill them."""

    name = "local"

    def __init__(
        self,
        model_path: Path,
        *,
        model_id: str,
        threads: int | None = None,
        context: int = 4096,
        seed: int = 7,
        max_queue: int = 4,
        prefix_cache_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.model = model_id
        self.model_path = model_path
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.context = context
        self.seed = seed
        started = time.perf_counter()
        with without_weight_repacking():
            self._llama: Llama = LazyGrammarLlama(
                model_path=str(model_path),
                n_ctx=context,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                seed=seed,
                verbose=False,
            )
        self.load_seconds = time.perf_counter() - started
        self.prefixes = PrefixStates(self._llama, prefix_cache_bytes)
        self._lock = threading.Lock()
        self.max_queue = max_queue
        self._waiting = 0
        self._queue_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBackend:
        path, model_id = resolve_model_path(settings.local_model, settings.model_cache_path)
        return cls(
            path,
            model_id=model_id,
            threads=settings.local_threads,
            context=settings.local_context,
            max_queue=settings.local_max_queue,
            prefix_cache_bytes=settings.local_prefix_cache_mb * 1024 * 1024,
        )

    def chat(self, request: ChatRequest) -> ChatReply:
        if request.model is not None and request.model != self.model:
            raise InvalidRequestError(
                f"model: the local backend runs {self.model!r} and cannot switch to "
                f"{request.model!r} per request; start another server with "
                "PROMPTMILL_LOCAL_MODEL set to it"
            )
        deadline = time.monotonic() + request.timeout
        with self._queue_lock:
            if self._lock.locked() and self._waiting >= self.max_queue:
                raise OverloadedError(
                    f"the local model is busy and {self._waiting} call(s) already wait for "
                    "it; retry shortly (PROMPTMILL_LOCAL_MAX_QUEUE sets the queue)",
                    retry_after=BUSY_RETRY_AFTER,
                )
            self._waiting += 1
        try:
            acquired = self._lock.acquire(timeout=max(0.0, request.timeout))
        finally:
            with self._queue_lock:
                self._waiting -= 1
        if not acquired:
            raise OverloadedError(
                "the local model stayed busy with other requests until this one's deadline; "
                "retry later (or raise PROMPTMILL_REQUEST_TIMEOUT)",
                retry_after=BUSY_RETRY_AFTER,
            )
        try:
            return self._chat_locked(request, deadline)
        finally:
            self._lock.release()

    def _chat_locked(self, request: ChatRequest, deadline: float) -> ChatReply:
        """Stream the completion so the deadline can stop it between two tokens.

        Token counts are exact: the context holds exactly the prompt when the first token
        arrives, and each streamed chunk carries one generated token. The reused input
        tokens are those the context already held (llama.cpp keeps the longest common
        prefix, less one token it replays when the whole prompt was there); ``seconds``
        counts from getting the model, saving and restoring prefix states included.
        """
        started = time.perf_counter()
        first_text = request.turns[0].text if request.turns else ""
        family = family_of(request.system, first_text)
        held = self.prefixes.prepare(family)
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": t.role, "content": t.text} for t in request.turns)
        kwargs: dict[str, Any] = {}
        if request.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": request.json_schema}
        pieces: list[str] = []
        prompt: tuple[int, ...] | None = None
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
                if prompt is None:
                    prompt = self.prefixes.live_tokens()
                content = chunk["choices"][0]["delta"].get("content")
                if content is not None:
                    pieces.append(content)
                    if len(pieces) % 16 == 0 and _is_looping("".join(pieces[-200:])):
                        break  # small models can repeat a phrase until max_tokens; stop early
                if time.monotonic() > deadline:
                    raise out_of_time(
                        "the local model did not finish within the request's deadline "
                        f"({request.timeout:.0f}s left when it started)"
                    )
        except ValueError as exc:  # e.g. the prompt does not fit the context window
            raise APIError(f"local model could not run this request: {exc}") from exc
        finally:
            if prompt is not None:
                self.prefixes.learn(family, prompt)
        prompt = prompt or ()
        reused = shared_prefix(held, prompt)
        if prompt and reused == len(prompt):
            reused -= 1
        return ChatReply(
            text="".join(pieces),
            input_tokens=len(prompt),
            output_tokens=len(pieces),
            reused_input_tokens=reused,
            evaluated_input_tokens=len(prompt) - reused,
            seconds=time.perf_counter() - started,
        )


def _is_looping(recent: str) -> bool:
    """True when the output has fallen into repeating the same phrase over and over."""
    tail = recent[-40:]
    return len(tail) == 40 and recent.count(tail) >= 4
