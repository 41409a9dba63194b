"""Identity: the organisation as the OA directories list it, kept as one golden record.

Owns: syncing departments and people from each OA into the golden master data and the crosswalk
(OA user id ⇄ employee number ⇄ ERP user), with their history in the event log; console users, roles,
API tokens, sessions and the audit log (``accounts``). Does not own: how a vendor lists its directory
(each connector's ``directory`` reader), or how HTTP requests carry who calls (``web.auth``).
"""

from huiliu.identity.directory import DirectorySync, Problem, SyncReport

__all__ = ["DirectorySync", "Problem", "SyncReport"]
