"""Generic WebService (SOAP) connector on zeep, with SAP's journal entry posting as a typed action.

Owns: loading a WSDL (file or URL, basic auth or WS-Security UsernameToken), calling any operation with a dict
and returning plain data (``Decimal`` kept), mapping SOAP faults and transport failures once
(:mod:`huiliu.connectors.soap.errors`), the actions ``soap.call`` (reference lookup before a retry when
configured) and ``soap.journal_entry.create`` (SAP ``JournalEntryBulkCreateRequest`` from the hub's voucher,
contract §8). Does not own: SOAP 1.2-specific behaviour beyond what zeep does, WS-Security signatures or
encryption (xmlsec), MTOM attachments, or reading SAP journal entries (OData, :mod:`huiliu.connectors.sap`).
"""

from huiliu.connectors.soap.actions import (
    JOURNAL_ENTRY_CREATE,
    SOAP_CALL,
    EntryFinder,
    SoapActions,
    register_actions,
)
from huiliu.connectors.soap.client import SoapClient, plain
from huiliu.connectors.soap.errors import SoapFault, error_from_call, error_from_load
from huiliu.connectors.soap.mapping import (
    get_path,
    journal_entry_request,
    journal_entry_result,
    set_path,
    stored_reference,
)
from huiliu.connectors.soap.settings import JournalEntrySettings, SoapAuth, SoapLookup, SoapSettings

__all__ = [
    "JOURNAL_ENTRY_CREATE",
    "SOAP_CALL",
    "EntryFinder",
    "JournalEntrySettings",
    "SoapActions",
    "SoapAuth",
    "SoapClient",
    "SoapFault",
    "SoapLookup",
    "SoapSettings",
    "error_from_call",
    "error_from_load",
    "get_path",
    "journal_entry_request",
    "journal_entry_result",
    "plain",
    "register_actions",
    "set_path",
    "stored_reference",
]
