"""Test-case generation on the real embedded runtime (SmolLM2-135M via llama.cpp).

A 135M model's content cannot be judged; what must hold on a real model is the
structure: the JSON schema is enforced while decoding, every case fills every variable
of the prompt with a non-placeholder value, and the usage is real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from promptmill.backends.local import LocalBackend
from promptmill.config import Settings
from promptmill.engine.cases import check_cases_fill, generate_cases, placeholder_problem
from promptmill.engine.types import PromptMessage
from promptmill.engine.versions import PromptTemplate

pytest.importorskip("llama_cpp")


def test_generated_cases_on_the_embedded_model_fill_every_variable(tmp_path: Path) -> None:
    backend = LocalBackend.from_settings(Settings(home=tmp_path, local_model="smollm2-135m"))
    prompt = PromptTemplate(
        messages=[
            PromptMessage.of(
                "user", "Write a short reply to this customer email: {{EMAIL}}\nSign as {{AGENT}}."
            )
        ]
    )
    cases, usage = generate_cases(backend, prompt, 2, timeout=120, max_tokens_per_case=60)
    assert 1 <= len(cases) <= 2
    check_cases_fill(cases, ["EMAIL", "AGENT"])
    for case in cases:
        assert set(case.vars) == {"EMAIL", "AGENT"}
        assert all(placeholder_problem(n, v) is None for n, v in case.vars.items()), case
    assert usage and all(u.input_tokens > 0 and u.output_tokens > 0 for u in usage)
