"""Typed identifiers, so that an instance id is never passed where a voucher number is expected."""

from typing import NewType

__all__ = ["GoldenId", "InstanceId", "SystemName"]

SystemName = NewType("SystemName", str)
"""A connected system, e.g. ``dingtalk`` or ``kingdee``."""

InstanceId = NewType("InstanceId", str)
"""An approval instance id as the OA system gives it."""

GoldenId = NewType("GoldenId", str)
"""The hub's own id of a business object, the same in every system."""
