"""The FastAPI application."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError

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
from huiliu.web.console import STATIC as CONSOLE_STATIC
from huiliu.web.console import router as console_router
from huiliu.web.console.views import LoginRequired, console_error
from huiliu.web.console.views import public as console_public
from huiliu.web.deadletters import router as deadletters_router
from huiliu.web.errors import error_body
from huiliu.web.overview import overview_cache
from huiliu.web.overview import router as overview_router
from huiliu.web.summary import SummaryCache, count_summary
from huiliu.web.webhooks import router as webhook_router

__all__ = ["create_app"]


def _without_input(errors: Sequence[Any]) -> list[Any]:
    """Validation errors without the input they quote.

    A body may hold a password, a megabyte of text, or a lone surrogate no UTF-8 reply can carry (a 500).
    """
    return [{k: v for k, v in e.items() if k != "input"} if isinstance(e, dict) else e for e in errors]


def create_app(hub: Hub) -> FastAPI:
    """Build the app around an opened :class:`Hub`."""
    app = FastAPI(title="huiliu 汇流", version=__version__, openapi_url="/openapi.json")
    app.state.hub = hub
    app.state.summary = SummaryCache(partial(count_summary, hub.db), hub.clock)
    app.state.overview = overview_cache(hub)

    @app.exception_handler(HuiliuError)
    async def _huiliu_error(request: Request, exc: HuiliuError) -> Response:
        if _on_page(request):
            return console_error(request, exc)
        return JSONResponse(status_code=404 if isinstance(exc, NotFound) else 400, content=error_body(exc))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        error = HuiliuError(t(f"请求参数无效：{first.get('msg')}", f"invalid request: {first.get('msg')}"),
                            where=where, fix=t("按 /openapi.json 中的说明修正该参数",
                                               "fix that parameter as /openapi.json describes"))
        if _on_page(request):
            return console_error(request, error, 422)
        return JSONResponse(status_code=422, content={**error_body(error, "bad_request"),
                                                      "errors": jsonable_encoder(_without_input(exc.errors()))})

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value taken from the request (PostgreSQL: a NUL character in text, a number
        # beyond the column); the database's own message quotes the statement's parameters, so it is not sent.
        error = HuiliuError(t("请求中有数据库无法保存的值（例如 NUL 字符或超出范围的数字）",
                              "the request holds a value the database cannot hold (e.g. a NUL character or a "
                              "number out of range)"), where=request.url.path,
                            fix=t("去掉控制字符，数字不超过 2147483647", "remove control characters; keep numbers at "
                                  "most 2147483647"))
        return JSONResponse(status_code=422, content=error_body(error, "bad_request"))

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> Response:
        return console_error(request, exc) if _on_page(request) else auth_error_response(exc)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return console_error(request, exc)

    app.state.accounts = Accounts(hub.clock)
    app.add_middleware(AuditMiddleware)
    app.include_router(webhook_router)  # signed by the vendors
    app.include_router(public_router)
    app.include_router(auth_router)
    app.include_router(api_router, dependencies=[Depends(authorize)])
    app.include_router(catalog_router, dependencies=[Depends(authorize)])
    app.include_router(audit_router, dependencies=[Depends(authorize)])
    app.include_router(deadletters_router, dependencies=[Depends(authorize)])
    app.include_router(overview_router, dependencies=[Depends(authorize)])
    app.include_router(console_router)  # each page checks its caller itself: a login form, not a 401
    app.include_router(console_public)
    app.mount("/console/static", StaticFiles(directory=CONSOLE_STATIC), name="console-static")
    return app


def _on_page(request: Request) -> bool:
    """Whether the request is for a console page (an error becomes a page) rather than the API (JSON)."""
    return request.url.path.startswith("/console/")

