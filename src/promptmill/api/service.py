"""``GET /``: what this server is and what it runs; needs no key, so health checks can use it."""

from __future__ import annotations

from fastapi import APIRouter, Request

from promptmill import __version__
from promptmill.api.schemas import ServiceInfo
from promptmill.api.state import app_state

router = APIRouter()


@router.get("/", response_model=ServiceInfo, summary="Service status", tags=["service"])
async def service_info(request: Request) -> ServiceInfo:
    """Name, version, backend and model of this server; needs no key."""
    engine = app_state(request).engine
    return ServiceInfo(
        version=__version__,
        backend=engine.backend.name if engine else "",
        model=engine.backend.model if engine else "",
    )


# Health checkers often probe with HEAD; same answer, not worth an OpenAPI entry.
router.add_api_route("/", service_info, methods=["HEAD"], include_in_schema=False)
