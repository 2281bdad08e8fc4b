"""promptmill: an open, self-hosted implementation of Anthropic's prompt tools API."""

from typing import TYPE_CHECKING, Any

from promptmill.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    PromptmillError,
    RateLimitError,
    RequestTooLargeError,
)

if TYPE_CHECKING:
    from promptmill.client import AsyncClient, Client

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The clients pull in httpx; load them on first use so ``import promptmill`` stays light.
    if name in ("Client", "AsyncClient"):
        from promptmill import client

        return getattr(client, name)
    raise AttributeError(f"module 'promptmill' has no attribute {name!r}")


__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "InvalidRequestError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "PromptmillError",
    "RateLimitError",
    "RequestTooLargeError",
    "__version__",
]
