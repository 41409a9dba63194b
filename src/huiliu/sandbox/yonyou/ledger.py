"""Yonyou sandbox business state: vendors, materials, purchase orders and vouchers, with the checks Yonyou makes.

Owns: :class:`Ledger` (dictionary-only records, numbering, status moves, validation messages in Yonyou's
Chinese wording as integrators quote it) and :class:`Refusal`. Does not own: tokens, signatures, envelopes
or faults (:mod:`.app`). Every operation takes and returns plain dictionaries, so both front ends (YonBIP
and U8) share it.

Unconfirmed behaviour, simulated as integrators describe it: purchase order ``status`` 0 开立 → 3 审核中 →
1 已审核 (2 已关闭); a repeated ``resubmitCheckKey`` is refused with a "重复提交" message; a duplicate voucher
with code 310504; ``pubts`` is the modification time in the tenant's zone.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["APPROVED", "APPROVING", "CLOSED", "DRAFT", "Condition", "Ledger", "Refusal", "amount"]

DRAFT, APPROVED, CLOSED, APPROVING = "0", "1", "2", "3"
_FEN = Decimal("0.01")
_GENERIC = "999"
"""The sandbox's code for a business refusal (unconfirmed; Yonyou's codes per service are not published)."""


class Refusal(Exception):
    """A request the sandbox answers with a failing ``code``; never leaves this package."""

    def __init__(self, message: str, code: str = _GENERIC) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class Condition:
    """One list filter: ``field op value`` with ``op`` ``eq`` or ``egt`` (≥, compared as text)."""

    field: str
    op: str
    value: str

    def holds(self, row: Mapping[str, Any]) -> bool:
        """Whether ``row`` passes."""
        actual = row.get(self.field)
        if actual is None:
            return False
        if self.op == "egt":
            return str(actual) >= self.value
        return str(actual) == self.value


def amount(value: Any, what: str) -> Decimal:
    """``value`` as a finite ``Decimal``, or a refusal naming ``what``."""
    if isinstance(value, bool) or value is None:
        raise Refusal(f"{what}不能为空")
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise Refusal(f"{what}[{value}]格式不正确") from None
    if not result.is_finite():
        raise Refusal(f"{what}[{value}]格式不正确")
    return result


@dataclass
class Ledger:
    """The tenant's records. Mutable; :class:`~.app.YonyouSandbox` owns one.

    Attributes:
        org_code: the one purchasing / accounting organisation.
        accbook_code: the one account book.
        accounts: account code → name of the chart (科目表).
        closed_periods: ``YYYY-MM`` periods closed for vouchers (已结账).
        reference_field: the purchase order header field holding the hub's reference (unconfirmed).
        zone: the tenant's zone for ``pubts``.
        now: where the current time comes from.
    """

    org_code: str
    accbook_code: str
    accounts: dict[str, str]
    closed_periods: set[str]
    reference_field: str
    zone: str
    now: Callable[[], datetime]
    vendors: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    vouchers: dict[str, dict[str, Any]] = field(default_factory=dict)
    resubmit_keys: dict[str, str] = field(default_factory=dict)
    voucher_types: frozenset[str] = frozenset({"1", "2", "3", "4"})
    downstream: dict[str, str] = field(default_factory=dict)
    """Order id → the downstream document that blocks un-audit (采购入库单 …)."""
    _ids: Any = field(default_factory=lambda: itertools.count(2_000_000_001))
    _numbers: Counter[str] = field(default_factory=Counter)

    def stamp(self) -> str:
        """``pubts``: now in the tenant's zone, ``YYYY-MM-DD HH:MM:SS``."""
        return self.now().astimezone(ZoneInfo(self.zone)).strftime("%Y-%m-%d %H:%M:%S")

    def next_id(self) -> str:
        """A new record id (ids are shared by every kind of record, as Yonyou's are)."""
        return str(next(self._ids))

    def number(self, prefix: str, day: str) -> str:
        """The next document number of ``day`` (``yyyymmdd``): ``prefix`` + day + four digits."""
        self._numbers[prefix + day] += 1
        return f"{prefix}{day}{self._numbers[prefix + day]:04d}"

    # ----------------------------------------------------------------- lists

    @staticmethod
    def page(rows: Sequence[Mapping[str, Any]], conditions: Sequence[Condition], page_index: int,
             page_size: int) -> dict[str, Any]:
        """Filter, order by ``pubts`` then id, and cut one page: ``{pageIndex, pageSize, recordCount, recordList}``."""
        if page_index < 1 or not 1 <= page_size <= 500:
            raise Refusal("分页参数不正确：pageIndex 从 1 开始，pageSize 为 1 到 500")
        matched = sorted((dict(r) for r in rows if all(c.holds(r) for c in conditions)),
                         key=lambda r: (str(r.get("pubts", "")), int(r["id"])))
        start = (page_index - 1) * page_size
        return {"pageIndex": page_index, "pageSize": page_size, "recordCount": len(matched),
                "recordList": matched[start:start + page_size]}

    # ----------------------------------------------------------------- master data

    def save_vendor(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Save a new vendor (供应商档案); its code must be new."""
        code, name = str(data.get("code") or ""), str(data.get("name") or "")
        if not code or not name:
            raise Refusal("供应商编码和名称不能为空")
        if any(v["code"] == code for v in self.vendors.values()):
            raise Refusal(f"供应商编码[{code}]已存在")
        vendor = {**dict(data), "id": self.next_id(), "code": code, "name": name, "pubts": self.stamp()}
        vendor.pop("_status", None)
        self.vendors[vendor["id"]] = vendor
        return {"id": vendor["id"], "code": code}

    def save_product(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Save a new material (物料档案); its code must be new and it needs a unit."""
        code, name = str(data.get("code") or ""), str(data.get("name") or "")
        if not code or not name:
            raise Refusal("物料编码和名称不能为空")
        if not data.get("unit_code"):
            raise Refusal(f"物料[{code}]的主计量单位不能为空")
        if any(p["code"] == code for p in self.products.values()):
            raise Refusal(f"物料编码[{code}]已存在")
        product = {**dict(data), "id": self.next_id(), "code": code, "name": name, "pubts": self.stamp()}
        product.pop("_status", None)
        self.products[product["id"]] = product
        return {"id": product["id"], "code": code}

    # ----------------------------------------------------------------- purchase orders

    def check_key(self, key: Any, code: str = _GENERIC) -> None:
        """Refuse a ``resubmitCheckKey`` that is too long or was already used (a repeated save)."""
        if key is None:
            return
        text = str(key)
        if len(text) > 32:
            raise Refusal(f"resubmitCheckKey[{text}]长度不能超过32位")
        if text in self.resubmit_keys:
            raise Refusal(f"重复提交：resubmitCheckKey[{text}]已处理，单据[{self.resubmit_keys[text]}]", code)

    def save_order(self, data: Mapping[str, Any], key: Any) -> dict[str, Any]:
        """``singleSave_v1``: check the order and save it 开立 (status 0)."""
        self.check_key(key)
        if data.get("_status", "Insert") != "Insert":
            raise Refusal("仅支持新增（_status=Insert）")
        for name in ("bustype_code", "currency_code", "org_code", "vendor_code", "vouchdate"):
            if not data.get(name):
                raise Refusal(f"表头字段[{name}]不能为空")
        if data["org_code"] != self.org_code:
            raise Refusal(f"采购组织[{data['org_code']}]不存在")
        vendor = str(data["vendor_code"])
        if not any(v["code"] == vendor for v in self.vendors.values()):
            raise Refusal(f"供应商[{vendor}]不存在或未分配到组织[{self.org_code}]")
        lines = data.get("purchaseOrders")
        if not isinstance(lines, list) or not lines:
            raise Refusal("采购订单表体不能为空")
        stored_lines = [self._check_line(index + 1, line) for index, line in enumerate(lines)]
        order_id = self.next_id()
        today = str(data["vouchdate"])[:10].replace("-", "")
        self._numbers[today] += 1
        order = {**{k: v for k, v in data.items() if k not in ("_status", "resubmitCheckKey")}, "id": order_id,
                 "code": f"CGDD{today}{self._numbers[today]:04d}", "status": DRAFT, "purchaseOrders": stored_lines,
                 "pubts": self.stamp()}
        self.orders[order_id] = order
        if key is not None:
            self.resubmit_keys[str(key)] = order["code"]
        return {"id": order_id, "code": order["code"], "status": DRAFT}

    def _check_line(self, row: int, line: Any) -> dict[str, Any]:
        if not isinstance(line, Mapping):
            raise Refusal(f"表体第{row}行格式不正确")
        product = str(line.get("product_cCode") or "")
        if not any(p["code"] == product for p in self.products.values()):
            raise Refusal(f"表体第{row}行：物料[{product}]不存在")
        qty = amount(line.get("qty"), f"表体第{row}行数量")
        price = amount(line.get("oriUnitPrice"), f"表体第{row}行无税单价")
        money = amount(line.get("oriMoney"), f"表体第{row}行无税金额")
        tax = amount(line.get("oriTax", 0), f"表体第{row}行税额")
        total = amount(line.get("oriSum"), f"表体第{row}行含税金额")
        if qty <= 0:
            raise Refusal(f"表体第{row}行：数量必须大于0")
        if (qty * price).quantize(_FEN, rounding=ROUND_HALF_UP) != money or money + tax != total:
            raise Refusal(f"表体第{row}行：金额与数量、单价、税额不一致")
        for name in ("inOrg_code", "inInvoiceOrg_code"):
            if line.get(name) != self.org_code:
                raise Refusal(f"表体第{row}行：[{name}]组织不存在")
        return {**dict(line), "id": self.next_id()}

    def order(self, order_id: str) -> dict[str, Any]:
        """The order by id, or a refusal."""
        order = self.orders.get(str(order_id))
        if order is None:
            raise Refusal(f"单据[{order_id}]不存在")
        return order

    def move(self, operation: str, items: Any) -> dict[str, Any]:
        """``batchsubmit`` / ``batchaudit`` / ``batchunaudit`` / ``batchdelete`` of ``[{"id"}]``."""
        if not isinstance(items, list) or not items:
            raise Refusal("参数data不能为空")
        done = []
        for item in items:
            order = self.order(str(item.get("id")) if isinstance(item, Mapping) else "")
            status, code = order["status"], order["code"]
            if operation == "submit":
                if status != DRAFT:
                    raise Refusal(f"单据[{code}]不是开立态，不能提交")
                order["status"] = APPROVING
            elif operation == "audit":
                if status != APPROVING:
                    raise Refusal(f"单据[{code}]不是审核中，不能审核")
                order["status"] = APPROVED
            elif operation == "unaudit":
                if status == CLOSED:
                    raise Refusal(f"单据[{code}]已关闭，不能弃审")
                if order["id"] in self.downstream:
                    raise Refusal(f"单据[{code}]已有下游单据（{self.downstream[order['id']]}），不能弃审")
                if status not in (APPROVED, APPROVING):
                    raise Refusal(f"单据[{code}]未审核，不能弃审")
                order["status"] = DRAFT
            elif operation == "delete":
                if status != DRAFT:
                    raise Refusal(f"单据[{code}]已提交或已审核，不能删除")
                del self.orders[order["id"]]
                done.append({"id": order["id"], "code": code})
                continue
            order["pubts"] = self.stamp()
            done.append({"id": order["id"], "code": code, "status": order["status"]})
        return {"count": len(done), "sucessCount": len(done), "infos": done}

    # ----------------------------------------------------------------- vouchers

    def add_voucher(self, data: Mapping[str, Any], key: Any) -> dict[str, Any]:
        """``addVoucher``: the book, type, period and accounts must be valid and the voucher must balance."""
        self.check_key(key, "310504")
        if data.get("accbookCode") != self.accbook_code:
            raise Refusal(f"账簿[{data.get('accbookCode')}]不存在", "310001")
        if str(data.get("voucherTypeCode")) not in self.voucher_types:
            raise Refusal(f"凭证类型[{data.get('voucherTypeCode')}]不存在", "310002")
        make_time = str(data.get("makeTime") or "")
        period = make_time[:7]
        if len(make_time) < 10:
            raise Refusal("制单日期makeTime不能为空", "310003")
        if period in self.closed_periods:
            raise Refusal(f"会计期间[{period}]已结账，不能保存凭证", "310074")
        bodies = data.get("bodies")
        if not isinstance(bodies, list) or len(bodies) < 2:
            raise Refusal("凭证分录不能少于两行", "310005")
        debit = credit = Decimal(0)
        for row, body in enumerate(bodies, start=1):
            if not isinstance(body, Mapping):
                raise Refusal(f"第{row}行分录格式不正确", "310005")
            account = str(body.get("accsubjectCode") or "")
            if account not in self.accounts:
                raise Refusal(f"第{row}行分录：科目[{account}]不存在或已停用", "310006")
            dr = amount(body.get("debitOrg", 0), f"第{row}行借方金额")
            cr = amount(body.get("creditOrg", 0), f"第{row}行贷方金额")
            if (dr == 0) == (cr == 0):
                raise Refusal(f"第{row}行分录：借方与贷方须且仅须填写一方", "310007")
            debit, credit = debit + dr, credit + cr
        if debit != credit:
            raise Refusal(f"借贷不平衡：借方合计{debit}，贷方合计{credit}", "310008")
        voucher_id = self.next_id()
        self._numbers[f"voucher:{period}"] += 1
        number = f"记-{self._numbers[f'voucher:{period}']:04d}"
        self.vouchers[voucher_id] = {**{k: v for k, v in data.items() if k != "resubmitCheckKey"},
                                     "voucherId": voucher_id, "billCode": number, "status": "0",
                                     "period": period, "pubts": self.stamp()}
        if key is not None:
            self.resubmit_keys[str(key)] = number
        return {"voucherId": voucher_id, "billCode": number, "status": "0"}

    def query_vouchers(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``queryVouchers``: by book and period range, paged by ``pager``."""
        start, end = str(data.get("periodStart") or "0000-00"), str(data.get("periodEnd") or "9999-99")
        raw = data.get("pager")
        pager: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        rows = [v for v in self.vouchers.values()
                if v.get("accbookCode") == data.get("accbookCode") and start <= v["period"] <= end]
        rows = [{**v, "id": v["voucherId"]} for v in rows]
        page = self.page(rows, [], int(pager.get("pageIndex", 1)), int(pager.get("pageSize", 20)))
        for row in page["recordList"]:
            row.pop("id", None)
        return {"recordCount": page["recordCount"], "recordList": page["recordList"]}
