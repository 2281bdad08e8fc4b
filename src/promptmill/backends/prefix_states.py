"""Saved llama.cpp states of fixed prompt prefixes, so interleaved kinds of call keep theirs.

llama-cpp-python already reuses the longest token prefix shared with the *previous*
call. That is enough while one kind of call repeats (one plan after another, one
evaluation case after another), and lost as soon as two kinds interleave (a case, its
judge, the next case...): each call then evaluates its fixed part afresh.

This keeps, per *family* of calls, the model state right after the family's fixed
prefix, and puts it back before the family's next call:

- a family is named by the call's system text (the fixed part of every meta-prompt and
  of most user prompts), or by the start of the first message when there is none;
- a family's fixed prefix is learnt, not declared: the fewest tokens two of its
  consecutive prompts have shared (at least ``MIN_PREFIX_TOKENS``);
- the state is saved lazily, when a call of *another* family is about to overwrite it:
  the live context is cut back to the fixed prefix and copied (llama.cpp's
  ``llama_state_get_data``, the KV cells only, never llama-cpp-python's per-token logits
  buffer that ``Llama.save_state`` copies: 300 MB for a 150k-token vocabulary);
- states live in RAM under a byte budget, least recently used first out.

Restoring is a memory copy (tens of milliseconds for a few hundred tokens) against
seconds of prompt evaluation on a CPU. A wrong guess costs only that copy: llama.cpp
still keeps whatever prefix the restored state and the prompt share.
"""

from __future__ import annotations

import ctypes
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import llama_cpp.llama_cpp as native
import numpy as np

if TYPE_CHECKING:
    from llama_cpp import Llama

MIN_PREFIX_TOKENS = 32
"""Shorter shared prefixes (a chat template's header) are not worth a saved state."""

_FAMILY_TEXT_CHARS = 256
"""Without a system text, this many leading characters of the first message name a family."""


@dataclass(frozen=True)
class _SavedState:
    tokens: tuple[int, ...]
    data: bytes


def family_of(system: str, first_message: str) -> str:
    """The family a call belongs to: a digest of its system text, else of its opening."""
    text = system if system else "\x00" + first_message[:_FAMILY_TEXT_CHARS]
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def shared_prefix(a: tuple[int, ...] | list[int], b: tuple[int, ...] | list[int]) -> int:
    """How many leading tokens ``a`` and ``b`` have in common."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PrefixStates:
    """The saved fixed-prefix states of one ``Llama``; the caller serialises all use.

    ``budget_bytes`` bounds the saved states' total size (0 turns saving off; the
    learning of prefixes and the accounting still run).
    """

    def __init__(self, llama: Llama, budget_bytes: int) -> None:
        self._llama = llama
        self.budget_bytes = budget_bytes
        self._states: OrderedDict[str, _SavedState] = OrderedDict()
        self._last_prompt: dict[str, tuple[int, ...]] = {}
        self._prefix_length: dict[str, int] = {}
        self._live_family: str | None = None
        self.saves = 0
        self.restores = 0

    @property
    def size_bytes(self) -> int:
        """Bytes the saved states take now."""
        return sum(len(state.data) for state in self._states.values())

    def live_tokens(self) -> tuple[int, ...]:
        """The tokens whose KV cells the context holds now."""
        llama = self._llama
        return tuple(int(t) for t in llama.input_ids[: llama.n_tokens])

    def prepare(self, family: str) -> tuple[int, ...]:
        """Make the context ready for a call of ``family``; returns the tokens it then holds.

        Saves the outgoing family's fixed prefix if a different family comes in, then
        restores the incoming family's saved prefix if the context lacks it.
        """
        outgoing = self._live_family
        if outgoing is not None and outgoing != family:
            self._save(outgoing)
        saved = self._states.get(family)
        live = self.live_tokens()
        if saved is not None:
            self._states.move_to_end(family)
            if shared_prefix(live, saved.tokens) < len(saved.tokens):
                self._restore(saved)
                return saved.tokens
        return live

    def learn(self, family: str, prompt: tuple[int, ...]) -> None:
        """Note a finished call's prompt: the family's fixed prefix is what its prompts share."""
        previous = self._last_prompt.get(family)
        if previous is not None:
            # The smallest share seen: a repair turn shares its whole first prompt and
            # reply with it, the next task only the fixed part.
            shared = min(shared_prefix(previous, prompt), self._prefix_length.get(family, 1 << 30))
            if shared >= MIN_PREFIX_TOKENS:
                self._prefix_length[family] = shared
            else:
                self._prefix_length.pop(family, None)
        self._last_prompt[family] = prompt
        self._live_family = family

    def _save(self, family: str) -> None:
        length = self._prefix_length.get(family)
        if length is None or self.budget_bytes <= 0:
            return
        live = self.live_tokens()
        if len(live) < length:
            return
        tokens = live[:length]
        if tokens != self._last_prompt[family][:length]:
            return  # the context no longer holds this family's prompt (a failed call)
        saved = self._states.get(family)
        if saved is not None and saved.tokens == tokens:
            return
        llama = self._llama
        if not llama._ctx.kv_cache_seq_rm(-1, length, -1):
            return
        llama.n_tokens = length
        size = native.llama_state_get_size(llama.ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = native.llama_state_get_data(llama.ctx, buffer, size)
        data = bytes(buffer)[:written]
        self._states[family] = _SavedState(tokens=tokens, data=data)
        self._states.move_to_end(family)
        self.saves += 1
        while self._states and self.size_bytes > self.budget_bytes:
            self._states.popitem(last=False)

    def _restore(self, saved: _SavedState) -> None:
        llama = self._llama
        size = len(saved.data)
        buffer = (ctypes.c_uint8 * size).from_buffer_copy(saved.data)
        if native.llama_state_set_data(llama.ctx, buffer, size) != size:
            raise RuntimeError("llama.cpp refused a saved prefix state")
        count = len(saved.tokens)
        llama.input_ids[:count] = np.asarray(saved.tokens, dtype=np.intc)
        llama.n_tokens = count
        # The restored logits are not the prefix's last token's: decode before sampling.
        llama._requires_eval = True
        self.restores += 1
