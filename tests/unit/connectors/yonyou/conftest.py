"""Fixtures of the Yonyou connector tests (see yonyou_rig)."""

from yonyou_rig import yonyou

__all__ = ["yonyou"]
