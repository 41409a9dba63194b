"""Identity: the organisation as the OA directories list it, kept as one golden record.

Owns: syncing departments and people from each OA into the golden master data and the crosswalk
(OA user id ⇄ employee number ⇄ ERP user), with their history in the event log. Does not own: how a
vendor lists its directory (each connector's ``directory`` reader), console users and roles (``web``).
"""

from huiliu.identity.directory import DirectorySync, Problem, SyncReport

__all__ = ["DirectorySync", "Problem", "SyncReport"]
