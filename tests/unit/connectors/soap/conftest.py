"""Fixtures of the SOAP connector tests (see soap_rig)."""

from soap_rig import soap, soap_wsse

__all__ = ["soap", "soap_wsse"]
