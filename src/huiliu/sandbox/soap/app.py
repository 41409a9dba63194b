"""SOAP journal entry sandbox: the WSDL, SOAP 1.1 envelopes, auth, journal entries, faults.

Owns: :class:`SoapJournalSandbox` (constructor, inspection), serving ``journal_entry.wsdl`` with its address
set to the sandbox's URL, basic auth or a WS-Security UsernameToken (PasswordText or PasswordDigest), the
create and read-by-reference operations, SOAP 1.1 ``soap-env:Fault`` replies and fault injection. Handlers
work on lxml elements and dictionaries only.

Modelled on SAP's ``JournalEntryBulkCreateRequest`` (contract §8, [D] for the operation; field names from the
public message: ``JournalEntry/DocumentReferenceID``, ``Item/GLAccount``, ``Item/AmountInTransactionCurrency``
with ``currencyCode``, credit amounts negative). Simulated where nothing is confirmed, said again where it
matters: business refusals are SOAP faults by default (SAP itself answers HTTP 200 with
``AccountingDocument`` ``0000000000`` and a ``Log`` of severity 3: ``business_errors="log"`` does that);
fault codes ``F5/702`` (balance) and ``F5/201`` (period not open) follow SAP's message numbers as they are
commonly quoted; a wrong WS-Security password is ``wsse:FailedAuthentication`` with HTTP 500; a wrong basic
password is HTTP 401 with an HTML page and no envelope, as SAP's ICF answers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
from dataclasses import dataclass, field
from datetime import UTC, date
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from lxml import etree  # no stubs; zeep depends on lxml

from huiliu.model import Clock, SystemClock
from huiliu.sandbox.faults import FaultKind, FaultPlan

__all__ = [
    "CREATE_OPERATION",
    "NAMESPACE",
    "READ_OPERATION",
    "SERVICE_PATH",
    "PostedEntry",
    "SoapJournalSandbox",
    "wsdl_text",
]

NAMESPACE = "http://sap.com/xi/SAPSCORE/SFIN"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
SERVICE_PATH = "/sap/bc/srt/scs_ext/sap/journalentrycreaterequestconfi"
CREATE_OPERATION = "JournalEntryCreateRequestConfirmation_In"
READ_OPERATION = "JournalEntryByReferenceQuery_In"
_PLACEHOLDER = "http://localhost" + SERVICE_PATH
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def wsdl_text(base_url: str | None = None) -> str:
    """The service's WSDL; with ``base_url`` its ``soap:address`` points at ``base_url`` + :data:`SERVICE_PATH`."""
    text = resources.files(__package__).joinpath("journal_entry.wsdl").read_text(encoding="utf-8")
    return text if base_url is None else text.replace(_PLACEHOLDER, base_url.rstrip("/") + SERVICE_PATH)


@dataclass
class PostedEntry:
    """A posted journal entry as the sandbox keeps it."""

    number: str
    company_code: str
    fiscal_year: str
    document_type: str
    reference: str | None
    header_text: str | None
    posting_date: date
    items: list[dict[str, Any]] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def _local(element: Any) -> str:
    return str(etree.QName(element).localname)


def _child(element: Any, name: str) -> Any:
    for child in element:
        if isinstance(child.tag, str) and _local(child) == name:
            return child
    return None


def _children(element: Any, name: str) -> list[Any]:
    return [c for c in element if isinstance(c.tag, str) and _local(c) == name]


def _text(element: Any, name: str, *, required: bool = True) -> str | None:
    child = _child(element, name) if element is not None else None
    value = None if child is None or child.text is None else child.text.strip()
    if required and not value:
        raise _Refused("SY/530", f"缺少必填字段 {name}")
    return value


def _sub(parent: Any, name: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, name, **attrs)
    if text is not None:
        element.text = text
    return element


class SoapJournalSandbox:
    """The simulated journal entry service: an aiohttp application in :attr:`app` plus inspectable state.

    Args:
        username / password: the communication user.
        auth: ``basic`` (HTTP basic), ``wsse`` (WS-Security UsernameToken in the SOAP header) or ``none``.
        company_code: the only company code entries may name.
        closed_periods: ``YYYY-MM`` posting periods that are closed.
        business_errors: ``fault`` answers a refused entry with a SOAP fault; ``log`` answers as SAP does,
            HTTP 200 with ``AccountingDocument`` ``0000000000`` and the reasons in ``Log``.
        faults: drawn once per request as ``wsdl``, ``journal.create`` or ``journal.read``.
        clock: where ``CreationDateTime`` comes from.
    """

    def __init__(self, *, username: str, password: str,
                 auth: Literal["basic", "wsse", "none"] = "basic", company_code: str = "1010",
                 closed_periods: set[str] | None = None, business_errors: Literal["fault", "log"] = "fault",
                 faults: FaultPlan | None = None, clock: Clock | None = None) -> None:
        self.username = username
        self._password = password
        self.auth = auth
        self.company_code = company_code
        self.closed_periods = set(closed_periods or set())
        self.business_errors = business_errors
        self.faults = faults or FaultPlan()
        self.clock = clock or SystemClock()
        self.entries: list[PostedEntry] = []
        self.seen_auth: list[str] = []
        """One entry per SOAP request: ``basic:<user>``, ``wsse:PasswordText:<user>`` … (never a password)."""
        self._numbers = itertools.count(100000001)
        self._uuids = itertools.count(1)
        self.app = web.Application()
        self.app.router.add_get(SERVICE_PATH, self._wsdl)
        self.app.router.add_post(SERVICE_PATH, self._soap)

    # ----------------------------------------------------------------- inspection

    def find(self, reference: str, company_code: str | None = None) -> list[PostedEntry]:
        """Posted entries with ``DocumentReferenceID`` ``reference``."""
        company = company_code or self.company_code
        return [e for e in self.entries if e.reference == reference and e.company_code == company]

    # ----------------------------------------------------------------- HTTP plumbing

    async def _wsdl(self, request: web.Request) -> web.StreamResponse:
        if self.auth == "basic" and not self._basic_ok(request, record=False):
            return web.Response(status=401, text="<html><body><h1>Logon failed</h1></body></html>",
                                content_type="text/html", headers={"WWW-Authenticate": 'Basic realm="SAP"'})
        fault = self.faults.draw("wsdl")
        if fault is not None and fault.kind is FaultKind.SERVER_ERROR:
            return web.Response(status=503, text="Service Unavailable")
        base = f"{request.scheme}://{request.host}"
        return web.Response(text=wsdl_text(base), content_type="text/xml", charset="utf-8")

    @staticmethod
    def _drop(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.close()

    def _basic_ok(self, request: web.Request, *, record: bool = True) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        if record:
            self.seen_auth.append(f"basic:{user}")
        return user == self.username and hmac.compare_digest(password.encode(), self._password.encode())

    def _wsse_ok(self, envelope: Any) -> bool:
        header = _child(envelope, "Header")
        security = _child(header, "Security") if header is not None else None
        token = _child(security, "UsernameToken") if security is not None else None
        if token is None:
            self.seen_auth.append("wsse:none")
            return False
        user = _text(token, "Username", required=False) or ""
        password = _child(token, "Password")
        if password is None or password.text is None:
            return False
        kind = (password.get("Type") or "#PasswordText").rpartition("#")[2]
        self.seen_auth.append(f"wsse:{kind}:{user}")
        if kind == "PasswordDigest":
            nonce = base64.b64decode(_text(token, "Nonce", required=False) or "")
            created = (_text(token, "Created", required=False) or "").encode()
            expected = base64.b64encode(hashlib.sha1(nonce + created + self._password.encode()).digest())  # noqa: S324 — WS-Security UsernameToken profile 1.1 digest
            return user == self.username and hmac.compare_digest(password.text.strip().encode(), expected)
        return user == self.username and hmac.compare_digest(password.text.encode(), self._password.encode())

    async def _soap(self, request: web.Request) -> web.StreamResponse:
        if self.auth == "basic" and not self._basic_ok(request):
            return web.Response(status=401, text="<html><body><h1>Logon failed</h1></body></html>",
                                content_type="text/html", headers={"WWW-Authenticate": 'Basic realm="SAP"'})
        try:
            envelope = etree.fromstring(await request.read(), parser=_PARSER)
        except etree.XMLSyntaxError:
            return self._fault("soap-env:Client", "请求不是有效的 XML")
        body = _child(envelope, "Body") if _local(envelope) == "Envelope" else None
        message = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
        if message is None:
            return self._fault("soap-env:Client", "缺少 SOAP Body")
        if self.auth == "wsse" and not self._wsse_ok(envelope):
            return self._fault("wsse:FailedAuthentication",
                               "The security token could not be authenticated or authorized")
        name = _local(message)
        operation = {"JournalEntryBulkCreateRequest": "journal.create",
                     "JournalEntryByReferenceQuery": "journal.read"}.get(name)
        if operation is None:
            return self._fault("soap-env:Client", f"未知的操作 {name}")
        fault = self.faults.draw(operation)
        if fault is not None:
            if fault.kind in (FaultKind.SERVER_ERROR, FaultKind.RATE_LIMIT):
                status = 503 if fault.kind is FaultKind.RATE_LIMIT else 500
                return web.Response(status=status, text="<html><body>Internal Server Error</body></html>",
                                    content_type="text/html")
            if fault.kind is FaultKind.DROP:
                self._drop(request)
                return web.Response(status=500)
            if fault.kind is FaultKind.SLOW:
                await asyncio.sleep(fault.delay)
        try:
            reply = self._create(message) if operation == "journal.create" else self._read(message)
        except _Refused as exc:
            return self._fault("soap-env:Client", exc.text, exc.code)
        if fault is not None and fault.kind is FaultKind.APPLIED_REPLY_LOST:
            self._drop(request)
        return self._envelope(reply)

    # ----------------------------------------------------------------- envelopes

    @staticmethod
    def _new_envelope() -> tuple[Any, Any]:
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap-env": SOAP_ENV})
        etree.SubElement(envelope, f"{{{SOAP_ENV}}}Header")
        return envelope, etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")

    def _envelope(self, payload: Any, status: int = 200) -> web.Response:
        envelope, body = self._new_envelope()
        body.append(payload)
        return web.Response(status=status, body=etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
                            content_type="text/xml", charset="utf-8")

    def _fault(self, code: str, text: str, vendor_code: str | None = None) -> web.Response:
        """A SOAP 1.1 fault, HTTP 500: ``faultcode``, ``faultstring`` and, for refusals, a ``detail``."""
        envelope, body = self._new_envelope()
        nsmap = {"wsse": WSSE} if code.startswith("wsse:") else None
        fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault", nsmap=nsmap)
        _sub(fault, "faultcode", code)
        _sub(fault, "faultstring", text, **{"{http://www.w3.org/XML/1998/namespace}lang": "zh"})
        if vendor_code is not None:
            detail = _sub(fault, "detail")
            item = etree.SubElement(detail, f"{{{NAMESPACE}}}JournalEntryFault", nsmap={"n0": NAMESPACE})
            _sub(item, "Code", vendor_code)
            _sub(item, "Text", text)
        return web.Response(status=500, body=etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
                            content_type="text/xml", charset="utf-8")

    def _header(self, parent: Any, reference: str | None) -> None:
        header = _sub(parent, "MessageHeader")
        _sub(header, "UUID", f"{next(self._uuids):032x}")
        if reference:
            _sub(header, "ReferenceID", reference)
        _sub(header, "CreationDateTime", self.clock.now().astimezone(UTC).isoformat().replace("+00:00", "Z"))

    # ----------------------------------------------------------------- operations

    def _entry(self, journal: Any) -> PostedEntry:
        company = _text(journal, "CompanyCode") or ""
        if company != self.company_code:
            raise _Refused("F5/165", f"公司代码 {company} 不存在")
        for name in ("OriginalReferenceDocumentType", "BusinessTransactionType", "CreatedByUser"):
            _text(journal, name)
        try:
            posting = date.fromisoformat((_text(journal, "PostingDate") or "")[:10])
            date.fromisoformat((_text(journal, "DocumentDate") or "")[:10])
        except ValueError:
            raise _Refused("SY/530", "PostingDate 或 DocumentDate 不是有效日期") from None
        period = f"{posting:%Y-%m}"
        if period in self.closed_periods:
            raise _Refused("F5/201", f"过账期间 {posting:%m} {posting:%Y} 未打开（公司代码 {company}）")
        items: list[dict[str, Any]] = []
        total, currencies = Decimal(0), set()
        for index, node in enumerate(_children(journal, "Item"), start=1):
            amount_node = _child(node, "AmountInTransactionCurrency")
            if amount_node is None or amount_node.text is None:
                raise _Refused("SY/530", f"第 {index} 行缺少 AmountInTransactionCurrency")
            try:
                amount = Decimal(amount_node.text.strip())
            except InvalidOperation:
                raise _Refused("SY/530", f"第 {index} 行金额 {amount_node.text} 不是数字") from None
            currency = amount_node.get("currencyCode") or ""
            side = _text(node, "DebitCreditCode", required=False)
            if side is not None and (side not in ("S", "H") or (side == "S") != (amount > 0)):
                raise _Refused("F5/808", f"第 {index} 行借贷标识 {side} 与金额 {amount} 的符号不符")
            assignment = _child(node, "AccountAssignment")
            items.append({"ReferenceDocumentItem": _text(node, "ReferenceDocumentItem", required=False) or str(index),
                          "GLAccount": _text(node, "GLAccount"), "Amount": amount, "Currency": currency,
                          "DebitCreditCode": side or ("S" if amount > 0 else "H"),
                          "DocumentItemText": _text(node, "DocumentItemText", required=False),
                          "CostCenter": _text(assignment, "CostCenter", required=False)
                          if assignment is not None else None})
            total += amount
            currencies.add(currency)
        if len(items) < 2:
            raise _Refused("F5/702", "凭证至少需要两行")
        if len(currencies) != 1:
            raise _Refused("F5/703", f"一张凭证只能使用一种币别，实际为 {'、'.join(sorted(currencies))}")
        if total != 0:
            debit = sum((Decimal(i["Amount"]) for i in items if i["Amount"] > 0), Decimal(0))
            raise _Refused("F5/702", f"凭证借贷不平衡：借方合计 {debit}，贷方合计 {debit - total}，差额 {total}")
        return PostedEntry(f"{next(self._numbers):010d}", company, f"{posting:%Y}",
                           _text(journal, "AccountingDocumentType") or "",
                           _text(journal, "DocumentReferenceID", required=False),
                           _text(journal, "DocumentHeaderText", required=False), posting, items)

    def _create(self, message: Any) -> Any:
        reply = etree.Element(f"{{{NAMESPACE}}}JournalEntryBulkCreateConfirmation", nsmap={"n0": NAMESPACE})
        self._header(reply, _text(_child(message, "MessageHeader"), "ID", required=False))
        requests = _children(message, "JournalEntryCreateRequest")
        if not requests:
            raise _Refused("SY/530", "缺少 JournalEntryCreateRequest")
        # Validate every entry first: a bulk message is posted entirely or not at all.
        outcomes: list[tuple[Any, PostedEntry | _Refused]] = []
        for node in requests:
            journal = _child(node, "JournalEntry")
            if journal is None:
                raise _Refused("SY/530", "缺少 JournalEntry")
            try:
                outcomes.append((node, self._entry(journal)))
            except _Refused as exc:
                if self.business_errors == "fault":
                    raise
                outcomes.append((node, exc))
        for node, outcome in outcomes:
            confirmation = _sub(reply, "JournalEntryCreateConfirmation")
            self._header(confirmation, _text(_child(node, "MessageHeader"), "ID", required=False))
            key = _sub(confirmation, "JournalEntryCreateConfirmation")
            log = etree.Element("Log")
            if isinstance(outcome, PostedEntry):
                self.entries.append(outcome)
                _sub(key, "AccountingDocument", outcome.number)
                _sub(key, "CompanyCode", outcome.company_code)
                _sub(key, "FiscalYear", outcome.fiscal_year)
                _sub(log, "MaximumLogItemSeverityCode", "1")
                item = _sub(log, "Item")
                _sub(item, "TypeID", "605(RW)")
                _sub(item, "SeverityCode", "1")
                _sub(item, "Note", f"凭证已过账：BKPFF {outcome.number}{outcome.company_code}{outcome.fiscal_year}")
            else:
                _sub(key, "AccountingDocument", "0000000000")
                _sub(key, "CompanyCode", "")
                _sub(key, "FiscalYear", "0000")
                _sub(log, "MaximumLogItemSeverityCode", "3")
                item = _sub(log, "Item")
                _sub(item, "TypeID", outcome.code.replace("/", ""))
                _sub(item, "SeverityCode", "3")
                _sub(item, "Note", outcome.text)
            confirmation.append(log)
        return reply

    def _read(self, message: Any) -> Any:
        company = _text(message, "CompanyCode") or ""
        reference = _text(message, "DocumentReferenceID") or ""
        reply = etree.Element(f"{{{NAMESPACE}}}JournalEntryByReferenceResponse", nsmap={"n0": NAMESPACE})
        for entry in self.find(reference, company):
            node = _sub(reply, "JournalEntry")
            _sub(node, "AccountingDocument", entry.number)
            _sub(node, "CompanyCode", entry.company_code)
            _sub(node, "FiscalYear", entry.fiscal_year)
            _sub(node, "AccountingDocumentType", entry.document_type)
            if entry.reference:
                _sub(node, "DocumentReferenceID", entry.reference)
            if entry.header_text:
                _sub(node, "DocumentHeaderText", entry.header_text)
            _sub(node, "PostingDate", entry.posting_date.isoformat())
            for item in entry.items:
                line = _sub(node, "Item")
                _sub(line, "ReferenceDocumentItem", item["ReferenceDocumentItem"])
                _sub(line, "GLAccount", item["GLAccount"])
                _sub(line, "AmountInTransactionCurrency", format(item["Amount"], "f"), currencyCode=item["Currency"])
                _sub(line, "DebitCreditCode", item["DebitCreditCode"])
                if item["DocumentItemText"]:
                    _sub(line, "DocumentItemText", item["DocumentItemText"])
                if item["CostCenter"]:
                    _sub(_sub(line, "AccountAssignment"), "CostCenter", item["CostCenter"])
        return reply

    def write_wsdl(self, path: Path, base_url: str) -> Path:
        """Write the WSDL with its address set to ``base_url``, for clients that load it from a file."""
        path.write_text(wsdl_text(base_url), encoding="utf-8")
        return path
