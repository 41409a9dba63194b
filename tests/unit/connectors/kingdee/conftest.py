"""Fixtures of the Kingdee connector tests (see kingdee_rig)."""

from kingdee_rig import kd, make_kd_env

__all__ = ["kd", "make_kd_env"]
