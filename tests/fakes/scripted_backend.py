"""A scripted, in-memory ``ChatBackend``: the seam for engine tests.

The engine only ever talks to the ``ChatBackend`` protocol, so its tests drive it through
this double instead of a vendor fake over HTTP (those test the vendor backends
themselves). Replies are taken in order from a script; a script item may be a string,
a function of the request (for replies that depend on what was asked), or an exception
to raise (for backend faults). Every request is kept for assertions.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

from promptmill.backends.base import ChatReply, ChatRequest

ScriptItem = str | Callable[[ChatRequest], str] | Exception


class ScriptedBackend:
    """Answers each ``chat`` call with the next scripted item, then with ``responder``.

    Token counts are word counts of the request and the reply: deterministic, and
    non-zero whenever there is text, which is what callers of a backend rely on.
    """

    name = "scripted"

    def __init__(
        self,
        script: Iterable[ScriptItem] = (),
        *,
        responder: Callable[[ChatRequest], str] | None = None,
        model: str = "scripted-model",
    ) -> None:
        self.model = model
        self.requests: list[ChatRequest] = []
        self._script: deque[ScriptItem] = deque(script)
        self._responder = responder
        self._lock = threading.Lock()

    def chat(self, request: ChatRequest) -> ChatReply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                item: ScriptItem = self._script.popleft()
            elif self._responder is not None:
                item = self._responder
            else:
                raise AssertionError(
                    f"ScriptedBackend: call {len(self.requests)} has no scripted reply"
                )
        if isinstance(item, Exception):
            raise item
        text = item(request) if callable(item) else item
        prompt_words = len(request.system.split()) + sum(len(t.text.split()) for t in request.turns)
        return ChatReply(text=text, input_tokens=prompt_words, output_tokens=len(text.split()))

    @property
    def remaining(self) -> int:
        """Scripted replies not used yet (a test can assert the script was used up)."""
        return len(self._script)
