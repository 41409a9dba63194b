"""A local SOAP journal entry service for tests and the demo, modelled on SAP's JournalEntryBulkCreateRequest.

Owns: the WSDL (``journal_entry.wsdl``, document/literal SOAP 1.1), basic auth and WS-Security UsernameToken
checks, posting balanced entries into open periods, reading them back by ``DocumentReferenceID``, SOAP faults
(``soap-env:Fault`` with ``faultcode``, ``faultstring`` and ``detail``) and fault injection. Does not own: the
OData journal entry reads of a real S/4HANA, tax, or open items.
"""

from huiliu.sandbox.soap.app import (
    CREATE_OPERATION,
    NAMESPACE,
    READ_OPERATION,
    SERVICE_PATH,
    PostedEntry,
    SoapJournalSandbox,
    wsdl_text,
)

__all__ = [
    "CREATE_OPERATION",
    "NAMESPACE",
    "READ_OPERATION",
    "SERVICE_PATH",
    "PostedEntry",
    "SoapJournalSandbox",
    "wsdl_text",
]
