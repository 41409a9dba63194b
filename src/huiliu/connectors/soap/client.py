"""A SOAP client over zeep's ``AsyncClient``: dictionaries in, plain Python data out.

zeep's async transport sends operations through ``httpx.AsyncClient`` but loads the WSDL (and the schemas it
imports) with a blocking ``httpx.Client``. :meth:`SoapClient.open` therefore builds the zeep client in a worker
thread (``asyncio.to_thread``): loading never blocks the event loop, and a WSDL served by a sandbox in the same
loop can answer. Operations then run on the loop itself, without threads.

Replies go through ``zeep.helpers.serialize_object`` into dicts and lists: ``xsd:decimal`` stays ``Decimal``,
``xsd:date`` / ``xsd:dateTime`` become ``date`` / ``datetime``; an element with simple content and attributes
(SAP's ``AmountInTransactionCurrency currencyCode="CNY"``) is ``{"_value_1": Decimal("12.30"),
"currencyCode": "CNY"}`` both ways, as zeep names it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Self

import httpx
import zeep
from lxml import etree  # no stubs; zeep depends on lxml
from zeep import exceptions as zeep_errors
from zeep.helpers import serialize_object
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport
from zeep.wsse.username import UsernameToken

from huiliu.connectors.base import CallObserver, CallRecord
from huiliu.connectors.soap.errors import error_from_call, error_from_load
from huiliu.connectors.soap.settings import SoapAuth, SoapSettings
from huiliu.errors import ConfigError, MappingError
from huiliu.i18n import t
from huiliu.model import Clock, SystemClock

__all__ = ["SoapClient", "plain"]


def plain(value: Any) -> Any:
    """Zeep objects (and ordered dicts) as plain dicts and lists; ``Decimal`` and dates untouched."""
    value = serialize_object(value, target_cls=dict)  # type: ignore[no-untyped-call]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float):  # xsd:double / xsd:float; xsd:decimal arrives as Decimal already
        return Decimal(repr(value))
    return value


class _Transport(AsyncTransport):
    """zeep's httpx transport, except that an error status with a body that is not XML (an HTML error page from
    the server or a proxy) is a :class:`zeep.exceptions.TransportError` with its status. zeep would otherwise
    parse a well-formed HTML page as XML, find no ``Fault`` and report an "Unknown fault" without the status.
    """  # noqa: D205

    def new_response(self, response: httpx.Response) -> Any:
        media = response.headers.get("Content-Type", "text/xml").split(";")[0].strip().lower()
        if response.status_code >= 400 and not media.endswith("xml"):
            raise zeep_errors.TransportError(  # type: ignore[no-untyped-call]
                f"HTTP {response.status_code}", status_code=response.status_code, content=response.read())
        return super().new_response(response)  # type: ignore[no-untyped-call]


def _pick(names: list[str], wanted: str | None, what: str, location: str) -> str:
    if not names:
        raise ConfigError(t(f"WSDL {location} 中没有 {what}", f"the WSDL at {location} has no {what}"),
                          where="soap.wsdl", fix=t("检查设置 wsdl 是否指向服务的 WSDL",
                                                   "check the wsdl setting points at the service's WSDL"))
    if wanted is None:
        return names[0]
    if wanted not in names:
        known = ", ".join(names)
        raise ConfigError(t(f"WSDL 中没有 {what} {wanted}", f"the WSDL has no {what} {wanted}"),
                          where=f"soap.{what}", fix=t(f"可用的 {what}：{known}", f"known {what}s: {known}"))
    return wanted


class SoapClient:
    """Calls the operations of one SOAP service.

    Build it with :meth:`open`; close it with :meth:`aclose` (or ``async with``).

    Args:
        settings: the connector settings.
        client: a zeep ``AsyncClient`` with the WSDL loaded.
        service: the bound service proxy (endpoint override applied).
        observer: receives a :class:`CallRecord` per operation.
        clock: where call times come from.
    """

    def __init__(self, settings: SoapSettings, client: zeep.AsyncClient, service: AsyncServiceProxy, *,
                 observer: CallObserver | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self.system = settings.system
        self._client = client
        self._service = service
        self.observer = observer
        self.clock = clock or SystemClock()

    @classmethod
    async def open(cls, settings: SoapSettings, *, observer: CallObserver | None = None,
                   clock: Clock | None = None) -> SoapClient:
        """Load the WSDL (in a worker thread) and bind the service and port.

        Raises:
            ConfigError: the WSDL cannot be loaded or parsed, or names no such service or port.
        """
        password = settings.password.get_secret_value() if settings.password is not None else None
        auth = (httpx.BasicAuth(settings.username or "", password or "")
                if settings.auth is SoapAuth.BASIC else None)
        timeout = httpx.Timeout(settings.timeout)
        wsse = None
        if settings.auth in (SoapAuth.WSSE, SoapAuth.WSSE_DIGEST):
            wsse = UsernameToken(settings.username, password, use_digest=settings.auth is SoapAuth.WSSE_DIGEST)  # type: ignore[no-untyped-call]
        loader = httpx.Client(auth=auth, timeout=timeout)
        sender = httpx.AsyncClient(auth=auth, timeout=timeout)
        transport = _Transport(client=sender, wsdl_client=loader)  # type: ignore[no-untyped-call]
        zeep_settings = zeep.Settings(strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True,
                                      forbid_external=True)

        def load() -> zeep.AsyncClient:
            return zeep.AsyncClient(  # type: ignore[no-untyped-call]
                settings.wsdl, wsse=wsse, transport=transport, settings=zeep_settings)

        try:
            try:
                client = await asyncio.to_thread(load)
            except (OSError, ValueError, httpx.HTTPError, zeep_errors.Error, etree.LxmlError) as exc:
                raise error_from_load(exc, settings.wsdl) from exc
            services = client.wsdl.services
            service = services[_pick(list(services), settings.service, "service", settings.wsdl)]
            port = service.ports[_pick(list(service.ports), settings.port, "port", settings.wsdl)]
            options = dict(port.binding_options)
            if settings.endpoint is not None:
                options["address"] = settings.endpoint
            if not options.get("address"):
                raise ConfigError(t("WSDL 未给出服务地址", "the WSDL names no service address"),
                                  where="soap.endpoint", fix=t("设置 endpoint", "set the endpoint setting"))
            proxy = AsyncServiceProxy(client, port.binding, **options)  # type: ignore[no-untyped-call]
        except BaseException:
            await asyncio.to_thread(loader.close)
            await sender.aclose()
            raise
        return cls(settings, client, proxy, observer=observer, clock=clock)

    def operations(self) -> frozenset[str]:
        """The operations the bound port offers."""
        return frozenset(self._service._binding.all())

    async def call(self, operation: str, payload: Mapping[str, Any]) -> Any:
        """Call ``operation`` with ``payload`` (the input element's children) and return the reply as plain data.

        Raises:
            MappingError: no such operation, or the payload does not fit its input element (nothing sent).
            SoapFault: the service answered with a SOAP fault.
            VendorRejected: HTTP 401 / 403 / 404.
            RateLimited: HTTP 429.
            TransientError: HTTP 5xx without a fault, a connection that could not be made, a reply that is
                not SOAP.
            NoReply: a timeout or a connection dropped after sending: it may have been applied.
        """
        if operation not in self.operations():
            known = ", ".join(sorted(self.operations()))
            raise MappingError(t(f"{self.system} 的 WSDL 中没有操作 {operation}",
                                 f"{self.system}'s WSDL has no operation {operation}"),
                               where=f"{self.system}.{operation}", fix=t(f"可用的操作：{known}",
                                                                        f"known operations: {known}"))
        started = time.perf_counter()
        started_at = self.clock.now()
        outcome = "ok"
        try:
            result = await self._service[operation](**dict(payload))
        except (zeep_errors.Error, httpx.HTTPError, TypeError) as exc:
            error = error_from_call(exc, self.system, operation)
            outcome = error.kind
            raise error from exc
        finally:
            if self.observer is not None:
                self.observer(CallRecord(self.system, operation, None, (time.perf_counter() - started) * 1000,
                                         outcome, started_at))
        return plain(result)

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        await self._client.transport.aclose()
        self._client.transport.wsdl_client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

