"""Grammar-constrained sampling that checks one token first, as llama.cpp's own tools do.

llama-cpp-python puts the grammar in the sampler chain, so every generated token runs
the grammar over the whole vocabulary: about 46 ms per token for Qwen2.5's 151,936
tokens on the 2-core machine (``bench/local``), more than decoding the token costs.
llama.cpp's ``common_sampler`` avoids that: it samples without the grammar, asks the
grammar about that one token, and only when it is refused runs the grammar over the
vocabulary and samples again.

The result is the grammar-first result. Greedy decoding picks the best allowed token
either way; when sampling, a token drawn from the free distribution is kept only if
allowed, and a refusal draws again from the allowed tokens, which together draw each
allowed token with its probability renormalised over the allowed ones (the same
distribution as masking first, up to top-k/top-p cutting before or after the mask).
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp.llama_cpp as native
import numpy as np
from llama_cpp import Llama
from llama_cpp._internals import LlamaTokenDataArray


class LazyGrammarLlama(Llama):
    """A ``Llama`` whose grammar is consulted per sampled token, not per vocabulary entry.

    ``lazy = False`` makes it sample as ``Llama`` does (the benchmark's baseline).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = True
        self._grammar_sampler: Any = None
        self._lazy_candidates = LlamaTokenDataArray(n_vocab=self.n_vocab())
        self._one_candidate = LlamaTokenDataArray(n_vocab=1)

    def _init_sampler(self, **kwargs: Any) -> Any:  # type: ignore[override]
        """The sampler chain without the grammar; the grammar kept apart for ``sample``.

        ``Llama.generate`` builds its sampler with keyword arguments only.
        """
        self._free_grammar_sampler()
        if not self.lazy:
            return super()._init_sampler(**kwargs)
        grammar = kwargs.pop("grammar", None)
        if grammar is not None:
            self._grammar_sampler = native.llama_sampler_init_grammar(
                self._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
            )
        return super()._init_sampler(grammar=None, **kwargs)

    def sample(self, **kwargs: Any) -> int:  # type: ignore[override]
        """``Llama.sample`` (called with keyword arguments only), grammar checked lazily."""
        if self._grammar_sampler is None or self._sampler is None:
            return int(super().sample(**kwargs))
        idx = kwargs.get("idx")
        chain = self._sampler.sampler
        ridx = idx - self.n_tokens if idx is not None else -1
        logits = np.ctypeslib.as_array(
            native.llama_get_logits_ith(self._ctx.ctx, ridx), shape=(self._n_vocab,)
        )
        candidates = self._lazy_candidates
        candidates.copy_logits(logits)
        native.llama_sampler_apply(chain, ctypes.byref(candidates.candidates))
        token = int(candidates.candidates_data.id[candidates.candidates.selected])
        if not self._allowed(token):
            candidates.copy_logits(logits)
            native.llama_sampler_apply(self._grammar_sampler, ctypes.byref(candidates.candidates))
            native.llama_sampler_apply(chain, ctypes.byref(candidates.candidates))
            token = int(candidates.candidates_data.id[candidates.candidates.selected])
        native.llama_sampler_accept(self._grammar_sampler, token)
        native.llama_sampler_accept(chain, token)
        return token

    def _allowed(self, token: int) -> bool:
        one = self._one_candidate
        one.candidates_data.id[0] = token
        one.candidates_data.logit[0] = 0.0
        one.candidates_data.p[0] = 0.0
        one.candidates.size = 1
        one.candidates.sorted = False
        native.llama_sampler_apply(self._grammar_sampler, ctypes.byref(one.candidates))
        return bool(np.isfinite(one.candidates_data.logit[0]))

    def _free_grammar_sampler(self) -> None:
        if getattr(self, "_grammar_sampler", None) is not None:
            native.llama_sampler_free(self._grammar_sampler)
            self._grammar_sampler = None

    def close(self) -> None:
        self._free_grammar_sampler()
        super().close()
