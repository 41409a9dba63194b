"""A simulated company for the demo and the tests.

Departments, employees with Chinese names, cost centres, a chart of accounts, suppliers and items, and
generators of expense claims (报销单), purchase requisitions (采购申请), payment requests (付款申请) and
contract approvals (合同审批).

Deterministic for a seed, so a failing run can be repeated. Both sandboxes are set up from the same
company: DingTalk knows the people by user id, Kingdee by employee and department number.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from huiliu.model import CostCenter, Department, Employee

__all__ = [
    "EXPENSE_ACCOUNTS",
    "PAYABLE_ACCOUNT",
    "SUPPLIERS",
    "ClaimSpec",
    "Company",
    "ContractSpec",
    "ExpenseItem",
    "PaymentSpec",
    "RequisitionLine",
    "RequisitionSpec",
    "make_company",
]

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅文辉鹏飞婷雪琳晨宇浩然子涵欣怡"

EXPENSE_ACCOUNTS: dict[str, str] = {
    "差旅费": "6602.03",
    "交通费": "6602.04",
    "业务招待费": "6602.05",
    "办公费": "6602.01",
    "通讯费": "6602.06",
    "培训费": "6602.08",
}
"""Expense type (费用类型) → expense account (管理费用 sub-accounts) in the demo chart of accounts."""

PAYABLE_ACCOUNT = "2241.01"
"""其他应付款—员工: the credit side of an approved claim until it is paid."""

SUPPLIERS: tuple[tuple[str, str, str], ...] = (
    ("GYS001", "上海晨光文具有限公司", "91310000MA1FL0XJ2K"),
    ("GYS002", "深圳市华强电子科技有限公司", "91440300MA5ERQ8T3N"),
    ("GYS003", "杭州绿源办公家具有限公司", "91330100MA2H3C7L5P"),
)
"""(code, name, 统一社会信用代码) of the demo suppliers."""

_ITEMS: tuple[tuple[str, str, str, int, int], ...] = (
    ("WL-1001", "A4 复印纸（70克，500张/包）", "包", 18_00, 32_00),
    ("WL-1002", "中性笔（0.5mm 黑色）", "支", 1_50, 4_00),
    ("WL-2001", "27 英寸显示器", "台", 899_00, 1_599_00),
    ("WL-2002", "无线键鼠套装", "套", 89_00, 199_00),
    ("WL-3001", "人体工学办公椅", "把", 459_00, 1_299_00),
)
"""(code, name, unit, lowest price, highest price in fen) of the demo items."""

_DEPARTMENTS = [
    ("BM01", "总经办", None, "CC01"),
    ("BM02", "财务部", None, "CC01"),
    ("BM03", "销售部", None, "CC02"),
    ("BM0301", "华东销售组", "BM03", "CC02"),
    ("BM0302", "华南销售组", "BM03", "CC02"),
    ("BM04", "研发中心", None, "CC03"),
    ("BM05", "采购部", None, "CC04"),
    ("BM06", "人力资源部", None, "CC01"),
]
_COST_CENTERS = [("CC01", "管理成本中心"), ("CC02", "销售成本中心"), ("CC03", "研发成本中心"),
                 ("CC04", "供应链成本中心")]


@dataclass(frozen=True, slots=True)
class ExpenseItem:
    """One line of a generated claim."""

    expense_type: str
    amount: Decimal
    description: str


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """A generated expense claim, before it is submitted to the OA sandbox."""

    employee: Employee
    reason: str
    items: tuple[ExpenseItem, ...]
    outcome: str
    """``approved``, ``refused`` or ``revoked``: how the approval will end."""

    @property
    def total(self) -> Decimal:
        """Sum of the items."""
        return sum((i.amount for i in self.items), Decimal(0))


@dataclass(frozen=True, slots=True)
class RequisitionLine:
    """One line of a generated purchase requisition."""

    item_code: str
    item_name: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    description: str


@dataclass(frozen=True, slots=True)
class RequisitionSpec:
    """A generated purchase requisition (采购申请), before it is submitted to the OA sandbox."""

    employee: Employee
    reason: str
    supplier_code: str
    supplier_name: str
    supplier_tax_id: str
    lines: tuple[RequisitionLine, ...]
    outcome: str

    @property
    def total(self) -> Decimal:
        """Sum of quantity × unit price."""
        return sum((line.quantity * line.unit_price for line in self.lines), Decimal(0))


@dataclass(frozen=True, slots=True)
class PaymentSpec:
    """A generated payment request (付款申请) to a supplier, before it is submitted to the OA sandbox."""

    employee: Employee
    reason: str
    supplier_code: str
    supplier_name: str
    supplier_tax_id: str
    amount: Decimal
    """To the fen."""
    invoice_number: str
    pay_date: date
    """付款日期 on the form."""
    outcome: str


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """A generated purchase contract approval (合同审批), before it is submitted to the OA sandbox."""

    employee: Employee
    name: str
    """合同名称."""
    contract_number: str | None
    """合同编号 when the company numbered it (the field is optional on the form)."""
    supplier_name: str
    supplier_tax_id: str
    """统一社会信用代码: the key the ERP's supplier is found by."""
    amount: Decimal
    """合同金额, to the fen."""
    currency: str
    """币种 as the form shows it (``人民币``)."""
    signed_on: date
    start: date
    end: date
    payment_terms: str
    outcome: str


_CONTRACT_KINDS = ("办公用品", "电子设备", "办公家具", "IT 运维服务", "劳保用品")
_PAYMENT_TERMS = ("验收合格后 30 天内付清", "预付 30%，到货验收后付清余款", "按季度结算，见票后 15 天付款")


def _beijing_today() -> date:
    return (datetime.now(UTC) + timedelta(hours=8)).date()


@dataclass
class Company:
    """The simulated company's master data."""

    name: str
    departments: list[Department]
    employees: list[Employee]
    cost_centers: list[CostCenter]
    seed: int
    accounts: dict[str, str] = field(default_factory=lambda: dict(EXPENSE_ACCOUNTS))

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed + 1)
        self._contracts = 0
        self.by_user_id = {e.oa_user_id: e for e in self.employees if e.oa_user_id}

    def claim(self, *, approve_rate: float = 0.8, refuse_rate: float = 0.1, max_lines: int = 4) -> ClaimSpec:
        """Generate one claim; the outcome is drawn with the given rates (the rest are revoked)."""
        rng = self._rng
        employee = rng.choice(self.employees)
        items = []
        for _ in range(rng.randint(1, max_lines)):
            kind = rng.choice(list(self.accounts))
            fen = rng.randint(1_00, 8_000_00)
            city = rng.choice(["上海", "深圳", "北京", "杭州", "成都", "武汉"])
            items.append(ExpenseItem(kind, Decimal(fen).scaleb(-2), f"{city}{kind}"))
        outcome = _draw_outcome(rng, approve_rate, refuse_rate)
        reason = f"{employee.name}{rng.choice(['出差', '客户拜访', '项目交付', '培训', '日常办公'])}报销"
        return ClaimSpec(employee, reason, tuple(items), outcome)

    def requisition(self, *, approve_rate: float = 0.8, refuse_rate: float = 0.1,
                    max_lines: int = 3) -> RequisitionSpec:
        """Generate one purchase requisition from one supplier; the outcome drawn as for claims."""
        rng = self._rng
        employee = rng.choice(self.employees)
        code, name, tax_id = rng.choice(SUPPLIERS)
        lines = []
        for code_, item, unit, low, high in rng.sample(_ITEMS, rng.randint(1, max_lines)):
            lines.append(RequisitionLine(code_, item, unit, Decimal(rng.randint(1, 20)),
                                         Decimal(rng.randint(low, high)).scaleb(-2), f"{employee.name}申购{item}"))
        outcome = _draw_outcome(rng, approve_rate, refuse_rate)
        reason = f"{rng.choice(['新员工入职', '办公用品补充', '项目采购', '设备更新'])}（{employee.name}）"
        return RequisitionSpec(employee, reason, code, name, tax_id, tuple(lines), outcome)

    def payment(self, *, approve_rate: float = 0.8, refuse_rate: float = 0.1, supplier_code: str | None = None,
                pay_date: date | None = None) -> PaymentSpec:
        """Generate one payment request to a supplier; the outcome drawn as for claims.

        Args:
            approve_rate: chance of ``approved``.
            refuse_rate: chance of ``refused`` (the rest are revoked).
            supplier_code: pay this supplier of :data:`SUPPLIERS` instead of a drawn one.
            pay_date: 付款日期; today in Beijing time when not given (so the ERPs' open periods take it). It
                is the only part not fixed by the seed.

        Raises:
            KeyError: ``supplier_code`` is not one of :data:`SUPPLIERS`.
        """
        rng = self._rng
        employee = rng.choice(self.employees)
        code, name, tax_id = _draw_supplier(rng, supplier_code)
        amount = Decimal(rng.randint(100_00, 200_000_00)).scaleb(-2)
        invoice = f"{rng.randint(10**7, 10**8 - 1)}"
        outcome = _draw_outcome(rng, approve_rate, refuse_rate)
        reason = f"{rng.choice(['支付货款', '预付货款', '支付办公用品款', '支付设备款'])}（{employee.name}经办）"
        return PaymentSpec(employee, reason, code, name, tax_id, amount, invoice, pay_date or _beijing_today(),
                           outcome)

    def contract(self, *, approve_rate: float = 0.8, refuse_rate: float = 0.1, supplier_code: str | None = None,
                 numbered: bool | None = None, signed_on: date | None = None) -> ContractSpec:
        """Generate one purchase contract approval with a supplier; the outcome drawn as for claims.

        Args:
            approve_rate: chance of ``approved``.
            refuse_rate: chance of ``refused`` (the rest are revoked).
            supplier_code: contract with this supplier of :data:`SUPPLIERS` instead of a drawn one (the form
                carries its name and 统一社会信用代码, not its code).
            numbered: whether the 合同编号 is filled in (unique within this company); drawn when ``None``.
            signed_on: 签订日期; today in Beijing time when not given. The contract starts 0–30 days later and
                runs 6, 12 or 24 months. The only part not fixed by the seed.

        Raises:
            KeyError: ``supplier_code`` is not one of :data:`SUPPLIERS`.
        """
        rng = self._rng
        employee = rng.choice(self.employees)
        _, name, tax_id = _draw_supplier(rng, supplier_code)
        amount = Decimal(rng.randint(10_000_00, 2_000_000_00)).scaleb(-2)
        kind = rng.choice(_CONTRACT_KINDS)
        terms = rng.choice(_PAYMENT_TERMS)
        lag, months = rng.randint(0, 30), rng.choice((6, 12, 24))
        has_number = rng.random() < 0.5 if numbered is None else numbered
        outcome = _draw_outcome(rng, approve_rate, refuse_rate)
        signed = signed_on or _beijing_today()
        start = signed + timedelta(days=lag)
        end = date(start.year + (start.month - 1 + months) // 12, (start.month - 1 + months) % 12 + 1, 1) \
            - timedelta(days=1)
        self._contracts += 1
        number = f"CG-{signed.year}-{self._contracts:04d}" if has_number else None
        return ContractSpec(employee, f"{start.year}年度{kind}采购合同（{name}）", number, name, tax_id, amount,
                            "人民币", signed, start, end, terms, outcome)


def _draw_outcome(rng: random.Random, approve_rate: float, refuse_rate: float) -> str:
    """``approved``, ``refused`` or ``revoked``, drawn with the given rates (one draw from ``rng``)."""
    draw = rng.random()
    return "approved" if draw < approve_rate else "refused" if draw < approve_rate + refuse_rate else "revoked"


def _draw_supplier(rng: random.Random, supplier_code: str | None) -> tuple[str, str, str]:
    """A supplier of :data:`SUPPLIERS`: the one with ``supplier_code``, else drawn.

    One draw from ``rng`` either way, so naming a supplier does not shift what the seed generates next.
    """
    drawn = rng.choice(SUPPLIERS)
    if supplier_code is None:
        return drawn
    found = next((s for s in SUPPLIERS if s[0] == supplier_code), None)
    if found is None:
        known = ", ".join(s[0] for s in SUPPLIERS)
        raise KeyError(f"no supplier {supplier_code!r}; known: {known}")
    return found


def make_company(seed: int = 7, employees: int = 40) -> Company:
    """Build the demo company: 8 departments, ``employees`` people with Chinese names, 4 cost centres."""
    rng = random.Random(seed)
    departments = [Department(n, name, parent, cc) for n, name, parent, cc in _DEPARTMENTS]
    people: list[Employee] = []
    used: set[str] = set()
    for i in range(employees):
        while True:
            name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2)))
            if name not in used:
                used.add(name)
                break
        dept = rng.choice(departments)
        people.append(Employee(number=f"E{1001 + i}", name=name, department_number=dept.number,
                               oa_user_id=f"{rng.randint(10**17, 10**18 - 1)}", erp_user=f"u{1001 + i}"))
    return Company("汇流示范科技有限公司", departments, people,
                   [CostCenter(n, name) for n, name in _COST_CENTERS], seed)
