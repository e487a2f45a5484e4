"""Length units of 3D data: the one table saying what a unit name means in metres.

A Pose3D, an mbcli.motion JSON's ``coords.units`` and a BVH file's lengths all name their unit with a key of
TO_METRES; a value in unit u times TO_METRES[u] is in metres, and a length in metres times 1 / TO_METRES[u] is in
unit u (exactly 1.0 and 100.0 for "m" and "cm").
"""

from __future__ import annotations

TO_METRES: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001}


def per_metre(units: str) -> float:
    """How many ``units`` make a metre (the scale from metres to ``units``); KeyError for an unknown unit."""
    return 1.0 / TO_METRES[units]
