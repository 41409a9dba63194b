"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from huiliu import __version__
from huiliu.errors import HuiliuError
from huiliu.service import Hub
from huiliu.web.api import router as api_router
from huiliu.web.errors import error_body
from huiliu.web.webhooks import router as webhook_router

__all__ = ["create_app"]


def create_app(hub: Hub) -> FastAPI:
    """Build the app around an opened :class:`Hub`."""
    app = FastAPI(title="huiliu 汇流", version=__version__, openapi_url="/openapi.json")
    app.state.hub = hub

    @app.exception_handler(HuiliuError)
    async def _huiliu_error(_request: Request, exc: HuiliuError) -> JSONResponse:
        return JSONResponse(status_code=400, content=error_body(exc))

    app.include_router(webhook_router)
    app.include_router(api_router)
    return app

