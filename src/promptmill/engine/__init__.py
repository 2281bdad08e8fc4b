"""The core engine: plan -> render -> validate, behind generate, improve and templatize.

It knows nothing of HTTP, SQL or the CLI: callers hand it plain values and a
``ChatBackend`` and get typed results or a ``promptmill.errors`` exception. The pipeline
lives in ``pipeline.py``; this module only hands its public names on.
"""

from promptmill.engine.pipeline import PromptEngine
from promptmill.engine.templatize import fill_variables

__all__ = ["PromptEngine", "fill_variables"]
