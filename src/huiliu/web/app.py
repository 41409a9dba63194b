"""The FastAPI application."""

from __future__ import annotations

from functools import partial

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from huiliu import __version__
from huiliu.errors import HuiliuError, NotFound
from huiliu.i18n import t
from huiliu.identity.accounts import Accounts
from huiliu.service import Hub
from huiliu.web.api import router as api_router
from huiliu.web.auth import (
    AuditMiddleware,
    AuthError,
    audit_router,
    auth_error_response,
    auth_router,
    authorize,
    public_router,
)
from huiliu.web.catalog import router as catalog_router
from huiliu.web.errors import error_body
from huiliu.web.summary import SummaryCache, count_summary
from huiliu.web.webhooks import router as webhook_router

__all__ = ["create_app"]


def create_app(hub: Hub) -> FastAPI:
    """Build the app around an opened :class:`Hub`."""
    app = FastAPI(title="huiliu 汇流", version=__version__, openapi_url="/openapi.json")
    app.state.hub = hub
    app.state.summary = SummaryCache(partial(count_summary, hub.db), hub.clock)

    @app.exception_handler(HuiliuError)
    async def _huiliu_error(_request: Request, exc: HuiliuError) -> JSONResponse:
        return JSONResponse(status_code=404 if isinstance(exc, NotFound) else 400, content=error_body(exc))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        error = HuiliuError(t(f"请求参数无效：{first.get('msg')}", f"invalid request: {first.get('msg')}"),
                            where=where, fix=t("按 /openapi.json 中的说明修正该参数",
                                               "fix that parameter as /openapi.json describes"))
        return JSONResponse(status_code=422, content={**error_body(error, "bad_request"),
                                                      "errors": jsonable_encoder(exc.errors())})

    @app.exception_handler(AuthError)
    async def _auth_error(_request: Request, exc: AuthError) -> JSONResponse:
        return auth_error_response(exc)

    app.state.accounts = Accounts(hub.clock)
    app.add_middleware(AuditMiddleware)
    app.include_router(webhook_router)  # signed by the vendors
    app.include_router(public_router)
    app.include_router(auth_router)
    app.include_router(api_router, dependencies=[Depends(authorize)])
    app.include_router(catalog_router, dependencies=[Depends(authorize)])
    app.include_router(audit_router, dependencies=[Depends(authorize)])
    return app

