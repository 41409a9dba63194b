"""Connectors: one package per vendor system, each with the same files.

``client.py`` (the API client: auth, calls, error mapping at one boundary), ``webhook.py`` (inbound
verification and decryption, for systems that call us), ``mapping.py`` (native ⇄ canonical), ``errors.py``
(the vendor's error codes sorted into retry / refresh-then-retry / rate-limited / reject), and
``actions.py`` (the actions flows may call, with idempotency). Shared here: the :class:`Action` seam and
the HTTP client wrapper.
"""

from huiliu.connectors.base import Action, ActionContext, ActionRegistry, CallObserver, CallRecord, FindOrCreate
from huiliu.connectors.http import HttpClient, HttpReply

__all__ = [
    "Action",
    "ActionContext",
    "ActionRegistry",
    "CallObserver",
    "CallRecord",
    "FindOrCreate",
    "HttpClient",
    "HttpReply",
]
