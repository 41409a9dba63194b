"""zeep and httpx failures sorted into retry / reject / configuration, in one place.

:func:`error_from_call` maps what an operation raises; :func:`error_from_load` what loading the WSDL raises.

* A SOAP fault (``soap-env:Fault``) → :class:`SoapFault`, a :class:`VendorRejected` keeping ``faultcode``,
  ``faultstring`` (verbatim, Chinese included) and the ``detail`` element as XML and as its leaf values. A
  WS-Security refusal (``wsse:FailedAuthentication``, ``wsse:InvalidSecurity…``) says which settings to check.
  An error reply that is an envelope without a ``Fault`` (zeep: "Unknown fault") → :class:`TransientError`.
* HTTP 401 → :class:`VendorRejected` naming the ``username`` / ``password`` settings (retrying a wrong password
  locks SAP communication users); 403 / 404 → :class:`VendorRejected`; 429 → :class:`RateLimited`; 5xx without a
  fault, or a 200 whose body is not XML → :class:`TransientError`.
* No answer: a connect failure (refused, DNS, connect timeout) → :class:`TransientError`, since nothing was
  sent; a read timeout or a connection dropped after sending → :class:`NoReply` (the service may have applied
  it), as :mod:`huiliu.connectors.http` does for aiohttp.
* A payload that does not fit the WSDL (unknown or missing element) → :class:`MappingError`, before sending.
* A WSDL that cannot be loaded (missing file, unreachable URL, not a WSDL) → :class:`ConfigError` naming it.
"""

from __future__ import annotations

from typing import Any

import httpx
from lxml import etree  # no stubs; zeep depends on lxml
from zeep import exceptions as zeep_errors

from huiliu.errors import (
    ConfigError,
    ConnectorError,
    HuiliuError,
    MappingError,
    NoReply,
    RateLimited,
    TransientError,
    VendorRejected,
)
from huiliu.i18n import Text, t

__all__ = ["SoapFault", "error_from_call", "error_from_load"]

_LIMIT = 500
_AUTH_FAULTS = ("FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken", "FailedCheck")


class SoapFault(VendorRejected):
    """The service answered with a SOAP fault.

    Attributes:
        fault_code: ``faultcode`` as sent, e.g. ``soap-env:Client``.
        fault_string: ``faultstring`` verbatim.
        fault_detail: the ``detail`` element as XML text, or ``None``.
        detail_values: the detail's leaf elements, local name → text (``{"Code": "F5/702", …}``).
    """

    kind = "soap_fault"

    def __init__(self, what: Text, *, system: str, operation: str, fault_code: str | None, fault_string: str,
                 fault_detail: str | None, detail_values: dict[str, str], fix: Text | None = None) -> None:
        self.fault_code = fault_code
        self.fault_string = fault_string
        self.fault_detail = fault_detail
        self.detail_values = detail_values
        super().__init__(what, system=system, operation=operation, vendor_code=fault_code,
                         vendor_message=fault_string[:_LIMIT], fix=fix)


def _detail(detail: Any) -> tuple[str | None, dict[str, str]]:
    if detail is None:
        return None, {}
    if isinstance(detail, str | bytes):
        text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else detail
        return text, {}
    values: dict[str, str] = {}
    for node in detail.iter():
        if isinstance(node.tag, str) and len(node) == 0 and node.text and node.text.strip():
            values.setdefault(etree.QName(node).localname, node.text.strip())
    return etree.tostring(detail, encoding="unicode"), values


def _fault(exc: zeep_errors.Fault, system: str, operation: str) -> ConnectorError:
    code = exc.code if isinstance(exc.code, str) else None
    message = exc.message if isinstance(exc.message, str) else ""
    if code is None and message.startswith("Unknown fault"):
        return TransientError(
            t("SOAP 服务返回了错误状态但没有 Fault", "the SOAP service answered an error without a Fault"),
            system=system, operation=operation, vendor_message=str(exc.detail or "")[:_LIMIT],
            fix=t("稍后自动重试；若持续出现，请查看服务端日志",
                  "retried later; if it persists, read the service's log"))
    detail, values = _detail(exc.detail)
    if code is not None and code.rpartition(":")[2] in _AUTH_FAULTS:
        return SoapFault(
            t(f"{system} 拒绝了 WS-Security 凭据：{message}",
              f"{system} refused the WS-Security credentials: {message}"),
            system=system, operation=operation, fault_code=code, fault_string=message, fault_detail=detail,
            detail_values=values,
            fix=t("检查设置 username 与 password（以及 auth 是否为 wsse / wsse_digest）；多次失败可能锁定该用户",
                  "check the username and password settings (and auth: wsse or wsse_digest); failures may lock "
                  "the user"))
    shown = message + (f"（{values['Code']}）" if "Code" in values and values["Code"] not in message else "")
    return SoapFault(
        t(f"{system} 拒绝了 {operation}：{shown}", f"{system} rejected {operation}: {shown}"),
        system=system, operation=operation, fault_code=code, fault_string=message, fault_detail=detail,
        detail_values=values,
        fix=t(f"按 {system} 返回的信息修正数据后重新发起", f"correct the data {system} names and send again"))


def _status(exc: zeep_errors.TransportError, system: str, operation: str) -> ConnectorError:
    status = exc.status_code
    body = exc.content.decode("utf-8", "replace")[:300] if isinstance(exc.content, bytes) else None
    if status == 401:
        return VendorRejected(
            t(f"{system} 登录失败（HTTP 401）：用户名或密码错误",
              f"{system} login failed (HTTP 401): wrong user or password"),
            system=system, operation=operation, vendor_code="401", vendor_message=body,
            fix=t("检查设置 username 与 password（auth 为 basic）；多次失败会锁定通信用户",
                  "check the username and password settings (auth basic); repeated failures lock the user"))
    if status == 429:
        return RateLimited(system=system, operation=operation, vendor_code="429", vendor_message=body)
    if status >= 500 or status == 200:
        return TransientError(
            t(f"{system} 服务器错误 HTTP {status}（无 SOAP Fault）",
              f"{system} server error HTTP {status} (no SOAP Fault)"),
            system=system, operation=operation, vendor_code=str(status), vendor_message=body,
            fix=t("稍后自动重试；若持续出现，请查看服务端日志（SAP：SRT_UTIL）",
                  "retried later; if it persists, read the service's log (SAP: SRT_UTIL)"))
    fix = (t("检查设置 endpoint 或 WSDL 中的地址", "check the endpoint setting or the WSDL's address")
           if status == 404 else t("检查该用户是否有权调用此服务", "check the user may call this service"))
    return VendorRejected(
        t(f"{system} 拒绝了 {operation}：HTTP {status}", f"{system} refused {operation}: HTTP {status}"),
        system=system, operation=operation, vendor_code=str(status), vendor_message=body, fix=fix)


def error_from_call(exc: Exception, system: str, operation: str) -> HuiliuError:
    """The hub error for what calling ``operation`` raised.

    Args:
        exc: a zeep, httpx or payload error.
        system: the vendor's name.
        operation: the WSDL operation.
    """
    if isinstance(exc, zeep_errors.Fault):
        return _fault(exc, system, operation)
    if isinstance(exc, zeep_errors.TransportError):
        return _status(exc, system, operation)
    if isinstance(exc, zeep_errors.XMLSyntaxError | zeep_errors.XMLParseError):
        return TransientError(
            t(f"{system} 的回复不是有效的 SOAP 报文", f"{system}'s reply is not a valid SOAP message"),
            system=system, operation=operation, vendor_message=str(exc)[:_LIMIT],
            fix=t("稍后自动重试；若持续出现，请检查 endpoint 是否指向 SOAP 服务（而非登录页）",
                  "retried later; if it persists, check the endpoint is the SOAP service, not a login page"))
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return TransientError(
            t(f"无法连接 {system}：{type(exc).__name__}", f"cannot connect to {system}: {type(exc).__name__}"),
            system=system, operation=operation,
            fix=t("请求未发出，稍后自动重试；若持续出现，请检查 endpoint 与网络",
                  "nothing was sent; retried later; if it persists, check the endpoint and the network"))
    if isinstance(exc, httpx.TimeoutException):
        return NoReply(t("请求超时，对方可能已处理", "request timed out; it may have been applied"),
                       system=system, operation=operation)
    if isinstance(exc, httpx.TransportError):
        return NoReply(t(f"连接中断：{type(exc).__name__}，对方可能已处理",
                         f"connection lost: {type(exc).__name__}; it may have been applied"),
                       system=system, operation=operation)
    if isinstance(exc, zeep_errors.ValidationError | TypeError | zeep_errors.LookupError):
        return MappingError(
            t(f"请求不符合 WSDL：{exc}", f"the request does not fit the WSDL: {exc}"),
            where=f"{system}.{operation}.payload",
            fix=t("按 WSDL 中该操作的输入元素构造 payload", "build the payload from the operation's input element"))
    return TransientError(
        t(f"调用 {system} 失败：{type(exc).__name__}", f"calling {system} failed: {type(exc).__name__}"),
        system=system, operation=operation, vendor_message=str(exc)[:_LIMIT],
        fix=t("稍后自动重试；若持续出现，请查看日志", "retried later; if it persists, read the log"))


def error_from_load(exc: Exception, location: str) -> ConfigError:
    """The :class:`ConfigError` for a WSDL at ``location`` that could not be loaded or parsed."""
    reason = f"{type(exc).__name__}: {exc}"[:300]
    return ConfigError(
        t(f"无法加载 WSDL：{location}（{reason}）", f"cannot load the WSDL at {location} ({reason})"),
        where="soap.wsdl",
        fix=t("检查设置 wsdl：本地文件路径须存在且可读，URL 须可访问（需要认证时设置 auth）",
              "check the wsdl setting: a file path must exist and be readable, a URL reachable (set auth if it "
              "needs credentials)"))
