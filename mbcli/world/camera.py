"""Pinhole intrinsics for a video whose camera is unknown.

Focal length, in order of preference: ``focal_px`` given by the user; a diagonal field of view ``fov_deg`` given by
the user (f = hypot(W, H) / (2 tan(fov / 2))); else the prior: a 60 degree diagonal field of view, the middle of
what phones (about 65-80 degrees for the main camera in video mode, narrower when stabilised) and webcams (about
55-78) record, and close to Human3.6M's cameras (63 degrees: f = 1146 px for 1000 x 1000 px). The principal point is
the image centre and pixels are square. A wrong focal length scales every depth by the same factor (the person's
metric size is known from the lifter), so positions keep their shape and only the distance to the camera changes.
"""

from __future__ import annotations

import math

from mbcli.errors import ConfigError
from mbcli.types import Intrinsics

PRIOR_FOV_DEG = 60.0
MAX_FOCAL_PX = 1e6  # a longer focal length (a field of view of hundredths of a degree) is a typing error


def diagonal_fov_deg(K: Intrinsics) -> float:
    """The diagonal field of view (degrees) of K over the image its principal point centres."""
    return math.degrees(2.0 * math.atan(math.hypot(K.cx * 2.0, K.cy * 2.0) / (2.0 * K.fx)))


def focal_from_fov(width: int, height: int, fov_deg: float) -> float:
    """The focal length (px) of a diagonal field of view ``fov_deg`` over a width x height image."""
    if not 1.0 < fov_deg < 179.0:
        raise ConfigError(f"field of view must be between 1 and 179 degrees, got {fov_deg}")
    return math.hypot(width, height) / (2.0 * math.tan(math.radians(fov_deg) / 2.0))


def check_camera_options(focal_px: float | None, fov_deg: float | None) -> None:
    """ConfigError for a focal length or field of view that cannot be used, or both given (flows call it before
    loading anything)."""
    if focal_px is not None and fov_deg is not None:
        raise ConfigError("give --focal or --fov, not both")
    if focal_px is not None and not 1.0 <= focal_px <= MAX_FOCAL_PX:  # (nan fails)
        raise ConfigError(f"--focal must be a positive number of pixels from 1 to {MAX_FOCAL_PX:g}, got {focal_px}")
    if fov_deg is not None and not 1.0 < fov_deg < 179.0:
        raise ConfigError(f"--fov: the field of view must be between 1 and 179 degrees, got {fov_deg}")


def intrinsics(width: int, height: int, focal_px: float | None = None, fov_deg: float | None = None) -> Intrinsics:
    """The camera of a width x height video (module docstring: given focal, given field of view, else the prior)."""
    if width <= 0 or height <= 0:
        raise ConfigError(f"the image size must be positive to place people in 3D, got {width}x{height}")
    check_camera_options(focal_px, fov_deg)
    if focal_px is not None:
        f, source = float(focal_px), "focal"
    elif fov_deg is not None:
        f, source = focal_from_fov(width, height, fov_deg), "fov"
    else:
        f, source = focal_from_fov(width, height, PRIOR_FOV_DEG), "prior"
    return Intrinsics(f, f, width / 2.0, height / 2.0, source)
