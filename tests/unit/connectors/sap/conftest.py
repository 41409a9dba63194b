"""Fixtures of the SAP connector tests (see sap_rig)."""

from sap_rig import sap

__all__ = ["sap"]
