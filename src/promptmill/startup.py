"""What promptmill builds from its settings before it serves: the one way to make the engine.

The server (``create_app``'s lifespan), ``promptmill serve`` and ``--in-process`` all call
``build_engine``, so they run the same backend with the same deadline. A misconfigured
backend raises ``ConfigurationError`` naming the setting here, at start-up, rather than
on the first request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptmill.backends.registry import make_backend

if TYPE_CHECKING:
    from promptmill.config import Settings
    from promptmill.engine import PromptEngine


def build_engine(settings: Settings) -> PromptEngine:
    """The configured backend wrapped in the engine (may load a local model: slow)."""
    from promptmill.engine import PromptEngine

    return PromptEngine(
        make_backend(settings),
        request_timeout=settings.request_timeout,
        generate_mode=settings.generate_mode,
    )
