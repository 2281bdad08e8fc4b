"""The HTTP layer: the Prompt Tools API over FastAPI (see ``app.create_app``)."""

from promptmill.api.app import create_app

__all__ = ["create_app"]
