"""The error tree of huiliu. Every error says what failed, where, and how to fix it.

::

    HuiliuError
    ├── ConfigError            bad settings or CLI argument; raised at start-up
    ├── NotFound               an id given by the user does not exist
    ├── FlowFileError          a flow file is invalid; ``where`` is ``file:line:column``
    ├── WebhookRejected        an inbound callback failed verification; nothing was stored
    ├── ProcessingError        a run cannot go on with this input; never retried (dead letter)
    │   ├── MappingError       an expression or lookup failed on this payload
    │   └── UnbalancedVoucher  debit and credit totals differ
    └── ConnectorError         a call to a vendor system failed; ``where`` is ``system.operation``
        ├── TransientError     5xx, timeout, dropped connection: retry with backoff
        │   ├── NoReply            no answer at all (timeout, dropped connection): it may have been applied
        │   └── AmbiguousOutcome   a create may have been applied: look it up, but not before retry_after
        ├── RateLimited        the vendor asked to slow down: retry after ``retry_after`` seconds
        ├── AuthExpired        the token or session is gone: refresh credentials, then retry once
        └── VendorRejected     the vendor refused the request on business grounds: never retried

Retry intent travels on the error (``retryable``), so the one bus boundary that turns failures into
ack / retry / dead letter needs no knowledge of vendors. Secrets never appear in messages.
"""

from __future__ import annotations

from huiliu.i18n import Lang, Text, t

__all__ = [
    "AmbiguousOutcome",
    "AuthExpired",
    "ConfigError",
    "ConnectorError",
    "FlowFileError",
    "HuiliuError",
    "MappingError",
    "NoReply",
    "NotFound",
    "ProcessingError",
    "RateLimited",
    "TransientError",
    "UnbalancedVoucher",
    "VendorRejected",
    "WebhookRejected",
    "describe",
]


class HuiliuError(Exception):
    """Root of all errors raised by huiliu.

    Args:
        what: what failed, in both languages.
        where: the place: ``file:line:column``, a field path, or ``system.operation``.
        fix: how to fix it, in both languages.
    """

    retryable: bool = False
    kind: str = "error"

    def __init__(self, what: Text, *, where: str | None = None, fix: Text | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.render(Lang.ZH))

    def render(self, lang: Lang = Lang.ZH) -> str:
        """Return the whole message in ``lang``: what, where, and the fix."""
        parts = [self.what.render(lang)]
        if self.where:
            parts.append(("位置：" if lang is Lang.ZH else "at: ") + self.where)
        if self.fix:
            parts.append(("修正：" if lang is Lang.ZH else "fix: ") + self.fix.render(lang))
        sep = "；" if lang is Lang.ZH else "; "
        return sep.join(parts)


class ConfigError(HuiliuError):
    """Bad settings or command-line argument, found at start-up."""

    kind = "config"


class NotFound(HuiliuError):
    """An id given by the user (a run, a dead letter) does not exist."""

    kind = "not_found"


class FlowFileError(HuiliuError):
    """A flow file is invalid; ``where`` names file, line and column."""

    kind = "flow"


class WebhookRejected(HuiliuError):
    """An inbound webhook failed verification or parsing; nothing was stored.

    Args:
        reason: a short machine-readable reason (``bad_signature``, ``stale_timestamp`` …).
    """

    kind = "webhook"

    def __init__(self, reason: str, what: Text, *, where: str | None = None, fix: Text | None = None):
        self.reason = reason
        super().__init__(what, where=where, fix=fix)


class ProcessingError(HuiliuError):
    """The input cannot be processed as it is; retrying would not help."""

    kind = "processing"


class MappingError(ProcessingError):
    """An expression, lookup or mapping failed on this payload."""

    kind = "mapping"


class UnbalancedVoucher(ProcessingError):
    """A voucher's debit and credit totals differ."""

    kind = "unbalanced_voucher"


class ConnectorError(HuiliuError):
    """A call to a vendor system failed.

    Args:
        system: the vendor system, e.g. ``kingdee``.
        operation: the operation, e.g. ``Save``.
        vendor_code: the vendor's own error code, if any.
        vendor_message: the vendor's own message, kept verbatim for the people who fix it.
        field: the vendor's name of the field it refused, if it named one (Kingdee ``FACCOUNTID``).
        line: the 0-based entry (line) of the document that field is on, if the vendor said.
    """

    kind = "connector"

    def __init__(
        self,
        what: Text,
        *,
        system: str,
        operation: str,
        vendor_code: str | None = None,
        vendor_message: str | None = None,
        fix: Text | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.system = system
        self.operation = operation
        self.vendor_code = vendor_code
        self.vendor_message = vendor_message
        self.field = field
        self.line = line
        super().__init__(what, where=f"{system}.{operation}", fix=fix)


class TransientError(ConnectorError):
    """A failure that may pass: 5xx, timeout, dropped connection."""

    kind = "transient"
    retryable = True


class NoReply(TransientError):
    """The request got no answer (timeout, dropped connection): the vendor may or may not have applied it."""

    kind = "no_reply"


class AmbiguousOutcome(TransientError):
    """A create failed in a way that may hide success (timeout, dropped connection, 5xx after sending).

    The retry must look the document up by its reference, and must not do so before the vendor can
    have finished the first request: ``retry_after`` says how long that is (a slow ERP still creates the
    document after the hub stopped waiting, and an early lookup would miss it and create a second one).
    """

    kind = "ambiguous"

    def __init__(self, what: Text, *, system: str, operation: str, retry_after: float,
                 fix: Text | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(what, system=system, operation=operation, fix=fix)


class RateLimited(ConnectorError):
    """The vendor asked to slow down; ``retry_after`` is in seconds when the vendor said it."""

    kind = "rate_limited"
    retryable = True

    def __init__(self, *, system: str, operation: str, retry_after: float | None = None,
                 vendor_code: str | None = None, vendor_message: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(
            t("供应商限流", "rate limited by the vendor"),
            system=system, operation=operation, vendor_code=vendor_code, vendor_message=vendor_message,
            fix=t("稍后自动重试；若持续出现，请降低并发或申请更高配额",
                  "retried later automatically; if it persists, lower concurrency or ask for a higher quota"),
        )


class AuthExpired(ConnectorError):
    """The token or session expired; the client refreshes it and retries once."""

    kind = "auth_expired"
    retryable = True


class VendorRejected(ConnectorError):
    """The vendor refused the request on business grounds (validation, permissions, closed period)."""

    kind = "vendor_rejected"


def describe(exc: BaseException) -> str:
    """An error as the hub stores it: a HuiliuError's Chinese message, else the exception's type and text."""
    return exc.render(Lang.ZH) if isinstance(exc, HuiliuError) else f"{type(exc).__name__}: {exc}"
