"""promptmill: an open, self-hosted implementation of Anthropic's prompt tools API."""

from promptmill.errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    PromptmillError,
    RateLimitError,
    RequestTooLargeError,
)

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AuthenticationError",
    "InvalidRequestError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "PromptmillError",
    "RateLimitError",
    "RequestTooLargeError",
    "__version__",
]
