"""Pixel positions to viewing angles through a pinhole camera model.

The tracker's boxes use a corner origin (pixel (0, 0) spans [0, 1)); CameraInfo's K and
P use centre origin (pixel (0, 0) is at 0.0), hence the 0.5 shift in ``normalized``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")
_PINHOLE_MODELS = DISTORTION_MODELS[:2]


@dataclass(frozen=True)
class CameraModel:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion_model: str = ""
    distortion: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        vals = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in vals) or self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"camera intrinsics must be finite with fx, fy > 0; got {vals}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"camera image size must be positive, got {self.width}x{self.height}")
        if not all(math.isfinite(v) for v in self.distortion):
            raise ValueError("distortion coefficients must be finite")
        # What OpenCV's undistortion takes (the fisheye model reads the first 4).
        n, model = len(self.distortion), self.distortion_model
        if (model == "equidistant" and n < 4) or (model in _PINHOLE_MODELS and n not in (4, 5, 8, 12, 14)):
            raise ValueError(f"{n} distortion coefficients do not fit the {model} model")

    @classmethod
    def from_hfov(cls, hfov_rad: float, width: int, height: int) -> CameraModel:
        """Ideal camera: square pixels, centred principal point (no camera_info available)."""
        if not 0.0 < hfov_rad < math.pi:
            raise ValueError(f"horizontal field of view must be in (0, 180) degrees, got {math.degrees(hfov_rad)}")
        f = width / 2.0 / math.tan(hfov_rad / 2.0)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    @classmethod
    def from_camera_info(
        cls,
        k: Sequence[float],
        p: Sequence[float],
        d: Sequence[float],
        distortion_model: str,
        width: int,
        height: int,
        use_projection: bool = False,
    ) -> CameraModel:
        """From CameraInfo fields: P (rectified images, no distortion) or K with D (raw images).

        Raises ValueError for an uncalibrated (all-zero) or malformed camera_info.
        """
        if use_projection:
            if len(p) != 12:
                raise ValueError("camera_info P must have 12 elements")
            return cls(float(p[0]), float(p[5]), float(p[2]), float(p[6]), int(width), int(height))
        if len(k) != 9:
            raise ValueError("camera_info K must have 9 elements")
        dist = tuple(float(v) for v in d)
        model = distortion_model if any(v != 0.0 for v in dist) else ""
        if model and model not in DISTORTION_MODELS:
            raise ValueError(f"unsupported distortion model {distortion_model!r}; use a rectified image and P")
        return cls(float(k[0]), float(k[4]), float(k[2]), float(k[5]), int(width), int(height), model, dist)

    def scaled_to(self, width: int, height: int) -> CameraModel:
        """The same camera for an image resized (or binned) to width x height."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        return CameraModel(
            self.fx * sx,
            self.fy * sy,
            (self.cx + 0.5) * sx - 0.5,
            (self.cy + 0.5) * sy - 0.5,
            width,
            height,
            self.distortion_model,
            self.distortion,
        )

    def normalized(self, u: float, v: float) -> tuple[float, float]:
        """Corner-origin pixel (u, v) to the normalised ray (x/z, y/z), undistorted if needed."""
        u, v = u - 0.5, v - 0.5
        if not self.distortion_model:
            return (u - self.cx) / self.fx, (v - self.cy) / self.fy
        import cv2

        k = np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])
        pts = np.array([[[u, v]]], dtype=np.float64)
        d = np.array(self.distortion, dtype=np.float64)
        if self.distortion_model == "equidistant":
            out = cv2.fisheye.undistortPoints(pts, k, d[:4])
        else:
            out = cv2.undistortPoints(pts, k, d)
        return float(out[0, 0, 0]), float(out[0, 0, 1])


def ray_angles(xn: float, yn: float, pitch: float = 0.0) -> tuple[float, float]:
    """Azimuth (positive right) and elevation below the horizon of a normalised ray, for a
    camera pitched down by ``pitch`` [rad] with no roll (a yaw-then-pitch gimbal).

    With pitch = 0 these are the angles a yaw-pitch gimbal must turn to centre the ray.
    """
    c, s = math.cos(pitch), math.sin(pitch)
    fwd = c - s * yn
    down = s + c * yn
    return math.atan2(xn, fwd), math.atan2(down, math.hypot(fwd, xn))


def subtended_range(angle: float, size: float) -> float:
    """Distance at which an object of ``size`` [m] facing the camera subtends ``angle`` [rad]."""
    return size / (2.0 * math.tan(angle / 2.0))
