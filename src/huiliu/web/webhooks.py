"""Inbound vendor callbacks.

DingTalk counts a callback as failed when the encrypted ``success`` is not back within 1.5 s and then
redelivers: the handler only verifies, decrypts and makes the event durable (one short transaction),
and leaves the rest to the worker.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from huiliu.errors import ConfigError, HuiliuError, WebhookRejected
from huiliu.i18n import t
from huiliu.service import Hub
from huiliu.web.errors import error_body

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = logging.getLogger("huiliu.webhooks")


@router.post("/dingtalk", summary="DingTalk HTTP callback (encrypted)")
async def dingtalk_callback(request: Request) -> JSONResponse:
    """Verify, decrypt, store, and answer with the encrypted ``success``."""
    hub: Hub = request.app.state.hub
    if hub.callback_codec is None:
        raise ConfigError(t("未配置钉钉连接器", "the DingTalk connector is not configured"),
                          where="HUILIU_DINGTALK__*", fix=t("设置钉钉的 app_key、回调 token 与 aes_key",
                                                           "set DingTalk's app_key, callback token and aes_key"))
    body = await request.body()
    try:
        event = hub.callback_codec.open(dict(request.query_params), body)
        hub.accept_callback(event, hub.clock.now())
    except WebhookRejected as exc:
        return JSONResponse(status_code=400, content=error_body(exc, exc.reason))
    except SQLAlchemyError as exc:
        # Not stored, so not acknowledged: DingTalk delivers it again (disk full, database down).
        log.exception("callback not stored")
        cause = getattr(exc, "orig", None) or exc
        error = HuiliuError(t(f"回调未能保存：{cause}", f"the callback could not be stored: {cause}"),
                            where="database", fix=t("检查数据库与磁盘空间；钉钉会重发该回调",
                                                    "check the database and disk space; DingTalk will redeliver"))
        return JSONResponse(status_code=503, content=error_body(error, "storage_unavailable"))
    return JSONResponse(hub.callback_codec.reply("success"))
