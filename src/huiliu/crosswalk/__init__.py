"""The crosswalk: one business object's ids in every system, and the master data behind lookups.

Owns: (entity, golden id) ⇄ (system, native type, native id), and the golden records of departments,
employees and cost centres that flows look up (an OA user id → the employee number the ERP knows).
Does not own: matching and merging of conflicting master data (``mdm``, a later issue).
"""

from huiliu.crosswalk.crosswalk import Crosswalk, CrosswalkConflict, golden_id_for
from huiliu.crosswalk.masterdata import DEPARTMENT_FIELDS, EMPLOYEE_FIELDS, MasterData

__all__ = ["DEPARTMENT_FIELDS", "EMPLOYEE_FIELDS", "Crosswalk", "CrosswalkConflict", "MasterData", "golden_id_for"]
