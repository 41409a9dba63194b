"""The hub service: the loop of DESIGN.md wired together for one process.

Owns: the handlers that connect inbox, flow runtime, outbox and connectors; the worker loop; the
settings. Does not own the parts it wires (``bus``, ``flows``, ``connectors``, ``crosswalk``).
"""

from huiliu.service.hub import SHIPPED_ACTIONS, TEMPLATES, CallbackOutcome, Hub
from huiliu.service.settings import RetrySettings, Settings
from huiliu.service.worker import Worker

__all__ = ["SHIPPED_ACTIONS", "TEMPLATES", "CallbackOutcome", "Hub", "RetrySettings", "Settings", "Worker"]
