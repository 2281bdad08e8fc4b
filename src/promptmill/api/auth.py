"""Who may call, and with which protocol headers: the checks every authenticated route makes.

- ``x-api-key`` (401 ``authentication_error``): checked against the store. A key this
  process verified less than ``PROMPTMILL_KEY_CACHE_SECONDS`` ago is accepted without
  a database read or a worker thread (``store.key_cache``); revoking it through this
  process forgets it at once, so the next request fails, and a revocation by another
  process is seen within those seconds. Failed checks are counted per client address
  (``rate_limit``): beyond ``PROMPTMILL_FAILED_KEY_CHECKS_PER_MINUTE`` the address gets
  429 ``rate_limit_error`` with ``retry-after`` before its key is even looked up, so
  keys cannot be guessed at speed. ``Authorization: Bearer <key>`` is
  accepted too, because recent official SDKs send the key that way; ``x-api-key`` wins
  when both are present.
- ``anthropic-version``: optional (missing is accepted, as the official clients always
  send one); a value that is not a ``YYYY-MM-DD`` date is a 400 naming the header. Any
  well-formed date is accepted.
- ``anthropic-beta``: ``PROMPT_TOOLS_BETA`` must be among the betas (comma separated
  and/or repeated headers). Without it the answer is what the Anthropic API gives a
  request that lacks a required beta: 400 ``invalid_request_error``, whose message names
  the exact header to add. Other betas are ignored.
- ``promptmill-separate-system`` (generate and improve only): promptmill's opt-in to a
  separate system prompt; ``true`` or ``false`` (the default), anything else a 400
  naming the header.

The ``*Header`` aliases declare these headers on a route, so ``/openapi.json`` lists them.
"""

from __future__ import annotations

import re
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Annotated

from fastapi import Header, Request

from promptmill.api.capacity import run_store
from promptmill.api.state import app_state
from promptmill.errors import APIError, AuthenticationError, InvalidRequestError
from promptmill.protocol import (
    PROMPT_TOOLS_BETA,
    SEPARATE_SYSTEM_HEADER,
    SEPARATE_SYSTEM_VALUES,
)

if TYPE_CHECKING:
    from promptmill.store import ApiKeyInfo

_VERSION_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")

ApiKeyHeader = Annotated[
    str | None,
    Header(
        alias="x-api-key",
        description="Your promptmill API key (`promptmill keys create`). Required.",
    ),
]
AuthorizationHeader = Annotated[
    str | None,
    Header(
        alias="authorization",
        description="`Bearer <key>`: an alternative to x-api-key, as recent official SDKs send it.",
    ),
]
VersionHeader = Annotated[
    str | None,
    Header(
        alias="anthropic-version",
        description="API version date, e.g. `2023-06-01`. Optional; a malformed value is a 400.",
    ),
]
BetaHeader = Annotated[
    list[str] | None,
    Header(
        alias="anthropic-beta",
        description=f"Must include `{PROMPT_TOOLS_BETA}`. Comma-separated (`beta1,beta2`) or "
        "the header repeated once per beta.",
    ),
]
SeparateSystemHeader = Annotated[
    str | None,
    Header(
        alias=SEPARATE_SYSTEM_HEADER,
        description="promptmill extension. `true` returns the instructions as a separate "
        "`system` prompt, and only the inputs in the user message, for target models whose "
        "vendor convention is a system prompt (GPT, o-series, Gemini). Without it (or with "
        "`false`), and for every other target, the answer has the Anthropic API's shape: "
        '`system` is `""` and the whole prompt is the user message. Any other value is a 400.',
    ),
]


def separate_system_requested(value: str | None) -> bool:
    """The ``promptmill-separate-system`` header as a flag; missing is ``False``."""
    if value is None:
        return False
    flag = SEPARATE_SYSTEM_VALUES.get(value.strip())
    if flag is None:
        raise InvalidRequestError(
            f"{SEPARATE_SYSTEM_HEADER}: header value {value[:40]!r} is not 'true' or 'false'; "
            f"send '{SEPARATE_SYSTEM_HEADER}: true' for a separate system prompt"
        )
    return flag


def check_anthropic_version(value: str | None) -> None:
    """Missing is fine; otherwise it must be a real ``YYYY-MM-DD`` date."""
    if value is None:
        return
    candidate = value.strip()
    valid = bool(_VERSION_FORMAT.match(candidate))
    if valid:
        try:
            date.fromisoformat(candidate)
        except ValueError:
            valid = False
    if not valid:
        raise InvalidRequestError(
            f"anthropic-version: header value {value[:40]!r} is not a date in YYYY-MM-DD "
            "form; send for example 'anthropic-version: 2023-06-01'"
        )


def beta_names(header_values: list[str]) -> set[str]:
    """All betas from repeated and comma-separated ``anthropic-beta`` headers, spaces stripped."""
    return {name.strip() for value in header_values for name in value.split(",") if name.strip()}


def check_prompt_tools_beta(header_values: list[str]) -> None:
    if PROMPT_TOOLS_BETA not in beta_names(header_values):
        raise InvalidRequestError(
            "the prompt tools API is in beta: add the header "
            f"'anthropic-beta: {PROMPT_TOOLS_BETA}' to use this endpoint"
        )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what it holds."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def client_address(request: Request) -> str:
    """The caller's address, as uvicorn reports it (a trusted proxy's header included)."""
    return request.client.host if request.client else "unknown"


async def authenticate_key(
    request: Request, api_key: str | None, authorization: str | None
) -> ApiKeyInfo:
    """The key of a request (``x-api-key`` or a Bearer token), checked on every call.

    Recently verified keys come from the process's cache (module docstring); others
    from the store, in its thread pool. Shared by every authenticated route. An
    address over its failed-check limit gets ``RateLimitError`` instead of a lookup, and
    the failure that goes over the limit is answered with it too.
    """
    api_key = api_key or bearer_token(authorization)
    if not api_key:
        raise AuthenticationError("x-api-key header is required")
    state = app_state(request)
    store = state.store
    if store is None:
        raise APIError("the key store is not ready")
    address = client_address(request)
    await state.limits().refuse_blocked_address(address)
    key = store.recently_verified(api_key, state.key_cache_seconds) or await run_store(
        state.capacity, partial(store.authenticate, api_key)
    )
    if key is None:
        await state.limits().count_failed_check(address)
        raise AuthenticationError("invalid x-api-key")
    return key
