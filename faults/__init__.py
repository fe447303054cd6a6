"""Faults: what breaks and how it is undone.

Every fault kind is named ``family.kind`` and registered in ``faults.registry``. A
fault's revert is described by plain data (``revert_record``) so the same revert runs
in the harness that applied it and in ``harness heal`` after that harness died.
"""

from faults.base import Fault, FaultTarget, get_kind, kinds

__all__ = ["Fault", "FaultTarget", "get_kind", "kinds"]
