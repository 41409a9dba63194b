"""Inbound vendor callbacks.

DingTalk counts a callback as failed when the encrypted ``success`` is not back within 1.5 s and then
redelivers; WeCom and Feishu retry too, and disable a URL that keeps failing. So each handler only
verifies, decrypts and makes the event durable (one short transaction), and leaves the rest to the
worker. A rejected request gets a 400 with the reason; one that could not be stored a 503 (not
acknowledged, so the vendor sends it again).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.exc import SQLAlchemyError

from huiliu.connectors.feishu import UrlVerification
from huiliu.errors import ConfigError, HuiliuError, WebhookRejected
from huiliu.i18n import t
from huiliu.service import Hub
from huiliu.service.sources import FeishuSource, WeComSource
from huiliu.web.errors import error_body

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = logging.getLogger("huiliu.webhooks")


def _storage_unavailable(exc: SQLAlchemyError, vendor: str) -> JSONResponse:
    """Not stored, so not acknowledged: the vendor delivers it again (disk full, database down)."""
    log.exception("callback not stored")
    cause = getattr(exc, "orig", None) or exc
    error = HuiliuError(t(f"回调未能保存：{cause}", f"the callback could not be stored: {cause}"),
                        where="database", fix=t(f"检查数据库与磁盘空间；{vendor}会重发该回调",
                                                f"check the database and disk space; {vendor} will redeliver"))
    return JSONResponse(status_code=503, content=error_body(error, "storage_unavailable"))


def _not_configured(name: str, prefix: str, what: tuple[str, str]) -> ConfigError:
    return ConfigError(t(f"未配置{name}连接器", f"the {prefix.title()} connector is not configured"),
                       where=f"HUILIU_{prefix.upper()}__*", fix=t(*what))


@router.post("/dingtalk", summary="DingTalk HTTP callback (encrypted)")
async def dingtalk_callback(request: Request) -> JSONResponse:
    """Verify, decrypt, store, and answer with the encrypted ``success``."""
    hub: Hub = request.app.state.hub
    if hub.callback_codec is None:
        raise _not_configured("钉钉", "dingtalk", ("设置钉钉的 app_key、回调 token 与 aes_key",
                                                "set DingTalk's app_key, callback token and aes_key"))
    body = await request.body()
    try:
        event = hub.callback_codec.open(dict(request.query_params), body)
        hub.accept_callback(event, hub.clock.now())
    except WebhookRejected as exc:
        return JSONResponse(status_code=400, content=error_body(exc, exc.reason))
    except SQLAlchemyError as exc:
        return _storage_unavailable(exc, "钉钉")
    return JSONResponse(hub.callback_codec.reply("success"))


_WECOM_UNSET = ("设置企业微信的 corp_id、回调 token 与 encoding_aes_key",
                "set WeCom's corp_id, callback token and encoding_aes_key")


@router.get("/wecom", summary="WeCom callback URL check (echostr)", response_class=PlainTextResponse)
async def wecom_verify(request: Request) -> Response:
    """Verify the signature, decrypt ``echostr`` and echo the plaintext (企业微信 URL 验证)."""
    hub: Hub = request.app.state.hub
    if hub.wecom_codec is None:
        raise _not_configured("企业微信", "wecom", _WECOM_UNSET)
    try:
        return PlainTextResponse(hub.wecom_codec.verify_url(dict(request.query_params)))
    except WebhookRejected as exc:
        return JSONResponse(status_code=400, content=error_body(exc, exc.reason))


@router.post("/wecom", summary="WeCom approval callback (encrypted XML)", response_class=PlainTextResponse)
async def wecom_callback(request: Request) -> Response:
    """Verify, decrypt, store, and acknowledge ``sys_approval_change``."""
    hub: Hub = request.app.state.hub
    if hub.wecom_codec is None:
        raise _not_configured("企业微信", "wecom", _WECOM_UNSET)
    body = await request.body()
    try:
        event = hub.wecom_codec.open(dict(request.query_params), body)
        hub.accept(WeComSource.trigger(event), hub.clock.now())
    except WebhookRejected as exc:
        return JSONResponse(status_code=400, content=error_body(exc, exc.reason))
    except SQLAlchemyError as exc:
        return _storage_unavailable(exc, "企业微信")
    return PlainTextResponse(hub.wecom_codec.ack())


@router.post("/feishu", summary="Feishu event subscription (url_verification and approval events)")
async def feishu_callback(request: Request) -> JSONResponse:
    """Answer the challenge, or verify, decrypt and store an approval event."""
    hub: Hub = request.app.state.hub
    if hub.feishu_codec is None:
        raise _not_configured("飞书", "feishu", ("设置飞书的 app_id、Verification Token 与 Encrypt Key",
                                              "set Feishu's app_id, verification token and encrypt key"))
    body = await request.body()
    try:
        opened = hub.feishu_codec.open(request.headers, body)
        if isinstance(opened, UrlVerification):
            return JSONResponse(opened.reply())
        hub.accept(FeishuSource.trigger(opened), hub.clock.now())
    except WebhookRejected as exc:
        return JSONResponse(status_code=400, content=error_body(exc, exc.reason))
    except SQLAlchemyError as exc:
        return _storage_unavailable(exc, "飞书")
    return JSONResponse(hub.feishu_codec.reply())
