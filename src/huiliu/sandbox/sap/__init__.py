"""A local SAP S/4HANA (OData) for tests and the demo (contract §8).

Owns: basic / bearer auth, the CSRF token flow (``x-csrf-token: Fetch``, session cookie, 403 ``Required``),
OData V2 or V4 envelopes and error bodies, business partners, products, purchase orders (deep insert, release,
deletion flag, refusal after a goods receipt), journal entries (balanced, open period; ``KZ`` supplier payments
with their own checks; served item by item as ``A_JournalEntryItemBasic``) and enterprise projects
(``A_EnterpriseProject``, whose code is the WBS element costs are booked on), with fault injection.
Does not own: the SOAP journal entry API, pricing and tax, goods receipts beyond a flag
(:meth:`SapSandbox.receive`).
"""

from huiliu.sandbox.sap.app import CSRF_FAILED, SESSION_COOKIE, SapSandbox
from huiliu.sandbox.sap.finance import Finance

__all__ = ["CSRF_FAILED", "SESSION_COOKIE", "Finance", "SapSandbox"]
