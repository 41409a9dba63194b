"""Canonical vouchers ⇄ Kingdee ``GL_VOUCHER`` models.

The input is the JSON form of :class:`huiliu.model.Voucher` (as :func:`huiliu.store.codec.to_jsonable`
writes it: amounts as strings, the date in ISO form, ``aux`` as ``[name, value]`` pairs). It is rebuilt
into a :class:`Voucher` first, so a voucher that does not balance never reaches Kingdee.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from huiliu.connectors.kingdee.settings import KingdeeSettings
from huiliu.errors import MappingError
from huiliu.i18n import t
from huiliu.model import Direction, Money, Voucher, VoucherLine, parse_amount

__all__ = ["voucher_from_json", "voucher_model"]

_FEN = Decimal("0.01")


class _MoneyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: str | int | float
    currency: str = "CNY"


class _LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str
    account: str = Field(min_length=1)
    direction: Direction
    amount: _MoneyIn
    aux: list[tuple[str, str]] = Field(default_factory=list)


class _VoucherIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str
    book: str
    date: date
    group: str = Field(min_length=1)
    currency: str
    lines: list[_LineIn]


def voucher_from_json(data: Mapping[str, Any]) -> Voucher:
    """Rebuild a :class:`Voucher` from its JSON form; building it checks the balance again.

    Raises:
        MappingError: a field is missing or malformed; ``where`` is the field path, e.g.
            ``voucher.lines.1.amount.amount``.
        UnbalancedVoucher: debit and credit totals differ, or fewer than two lines.
    """
    try:
        parsed = _VoucherIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in ("voucher", *first["loc"]))
        raise MappingError(
            t(f"凭证数据格式不正确：{first['msg']}（共 {exc.error_count()} 处）",
              f"malformed voucher: {first['msg']} ({exc.error_count()} problem(s))"),
            where=path,
            fix=t("凭证应为 huiliu.model.Voucher 的 JSON 形式（store.codec.to_jsonable）",
                  "pass the JSON form of huiliu.model.Voucher (store.codec.to_jsonable)")) from exc
    lines = []
    for index, line in enumerate(parsed.lines):
        where = f"voucher.lines.{index}"
        try:
            amount = Money(parse_amount(line.amount.amount, f"{where}.amount"), line.amount.currency)
            lines.append(VoucherLine(line.summary, line.account, line.direction, amount, tuple(line.aux)))
        except (ValueError, TypeError) as exc:
            raise MappingError(t(f"凭证分录不正确：{exc}", f"bad voucher line: {exc}"), where=where,
                               fix=t("金额须为正数，币别为 ISO 4217 代码", "amounts must be positive, "
                                     "currencies ISO 4217 codes")) from exc
    try:
        return Voucher(parsed.reference, parsed.book, parsed.date, parsed.group, parsed.currency,
                       tuple(lines))
    except ValueError as exc:  # mixed currencies inside Money arithmetic
        raise MappingError(t(f"凭证不正确：{exc}", f"bad voucher: {exc}"), where="voucher.lines",
                           fix=t("一张凭证只能使用一种币别", "use one currency per voucher")) from exc


def _amount_text(money: Money) -> str:
    """Two decimals as text: Kingdee reads strings exactly, floats would not be."""
    return format(money.amount.quantize(_FEN), "f")


def voucher_model(voucher: Mapping[str, Any], reference: str, settings: KingdeeSettings) -> dict[str, Any]:
    """Build the ``GL_VOUCHER`` ``Model`` for Save.

    Args:
        voucher: the JSON form of a :class:`Voucher`.
        reference: the hub-set reference stored in ``settings.reference_field``; the lookup before a
            retried Save searches for it.
        settings: book, currency numbers, 凭证字 numbers and the flex fields of the auxiliary dimensions.
            The account book sent is ``settings.book`` (one connector serves one book); the voucher's
            own ``book`` is the flow's name for it and is not sent.

    Returns:
        The model, with amounts as strings with two decimals (never floats).

    Raises:
        MappingError: malformed voucher, unknown currency or unknown auxiliary dimension.
        UnbalancedVoucher: the voucher does not balance.
    """
    built = voucher_from_json(voucher)
    currency = settings.currency_number.get(built.currency)
    if currency is None:
        raise MappingError(t(f"币别 {built.currency} 没有对应的金蝶币别编码",
                             f"no Kingdee currency number for {built.currency}"),
                           where="voucher.currency",
                           fix=t(f"在设置 currency_number 中加入 {built.currency}",
                                 f"add {built.currency} to the currency_number setting"))
    entries = []
    for index, line in enumerate(built.lines):
        detail: dict[str, Any] = {}
        for name, value in line.aux:
            flex = settings.aux_fields.get(name)
            if flex is None:
                known = ", ".join(sorted(settings.aux_fields)) or "(none)"
                raise MappingError(
                    t(f"未配置的辅助核算维度 {name}", f"auxiliary dimension {name} is not configured"),
                    where=f"voucher.lines.{index}.aux",
                    fix=t(f"在设置 aux_fields 中为 {name} 指定弹性域字段（已配置：{known}）",
                          f"map {name} to a flex field in aux_fields (configured: {known})"))
            detail[flex] = {"FNumber": value}
        debit = line.direction is Direction.DEBIT
        amount = _amount_text(line.amount)
        entries.append({
            "FEXPLANATION": line.summary,
            "FACCOUNTID": {"FNumber": line.account},
            "FDC": 1 if debit else -1,
            "FDEBIT": amount if debit else "0",
            "FCREDIT": "0" if debit else amount,
            "FDetailID": detail,
        })
    return {
        "FAccountBookID": {"FNumber": settings.book},
        "FDate": built.date.isoformat(),
        "FVOUCHERGROUPID": {"FNumber": settings.voucher_groups.get(built.group, built.group)},
        "FCURRENCYID": {"FNumber": currency},
        "FEXCHANGERATE": 1,
        settings.reference_field: reference,
        "FEntity": entries,
    }
