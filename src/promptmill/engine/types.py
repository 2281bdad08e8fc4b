"""The values the engine takes and returns, handed on from ``promptmill.types``.

They are the Prompt Tools API's own shapes, defined once in ``promptmill.types`` (which
the HTTP layer and the client use too), so the engine's results are the response
bodies, with nothing to copy between layers.
"""

from __future__ import annotations

from promptmill.types import (
    MeteredUsage,
    Progress,
    ProgressCallback,
    PromptMessage,
    PromptResult,
    TemplatizeResult,
    TextBlock,
    Usage,
)

__all__ = [
    "MeteredUsage",
    "Progress",
    "ProgressCallback",
    "PromptMessage",
    "PromptResult",
    "TemplatizeResult",
    "TextBlock",
    "Usage",
]
