"""Pinhole camera renderer: textured ground by homography, sky and haze, sprites.

The ground is one tileable texture warped with ``cv2.warpPerspective`` (its mip levels
for distant rows, against aliasing); actors are camera-facing sprites (billboards) drawn
far to near, so their image height depends only on their distance. The camera never
rolls (level airframe, stabilised gimbal), which makes the horizon and the haze depend
on the image row only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .dynamics import VehicleState, camera_rotation
from .scenario import Actor, Scenario
from .texture import gantry_sprite, ground_texture, tree_sprite, vehicle_sprites

SKY_TOP, HAZE = np.array([200, 150, 95], np.float32), np.array([215, 205, 195], np.float32)  # BGR
HAZE_START = 60.0  # no haze nearer than this [m]


def _pyramid(img: np.ndarray, smallest: int = 8) -> list[np.ndarray]:
    levels = [img]
    while min(levels[-1].shape[:2]) >= 2 * smallest:
        levels.append(cv2.pyrDown(levels[-1]))
    return levels


_SIZE_STEP = math.log(1.08)
_resize_cache: dict[tuple[int, int, int], np.ndarray] = {}


def _quantized(n: int) -> int:
    """Sizes in steps of 8 %: the final warp scales exactly, so sprites can be reused."""
    return max(2, int(round(math.exp(round(math.log(max(n, 2)) / _SIZE_STEP) * _SIZE_STEP))))


def _resized(pyr: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """About ``size``: resized from the smallest pyramid level still twice as large, cached."""
    size = (_quantized(size[0]), _quantized(size[1]))
    key = (id(pyr[0]), *size)
    out = _resize_cache.get(key)
    if out is None:
        src = pyr[0]
        for level in pyr[1:]:
            if level.shape[1] < 2 * size[0] or level.shape[0] < 2 * size[1]:
                break
            src = level
        if len(_resize_cache) > 2000:
            _resize_cache.clear()
        out = _resize_cache[key] = cv2.resize(src, size, interpolation=cv2.INTER_AREA)
    return out


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


@dataclass(frozen=True)
class CameraSpec:
    width: int = 640
    height: int = 480
    hfov_deg: float = 70.0

    @property
    def f(self) -> float:
        return self.width / 2.0 / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def k(self) -> np.ndarray:
        return np.array([[self.f, 0.0, (self.width - 1) / 2.0], [0.0, self.f, (self.height - 1) / 2.0], [0, 0, 1.0]])


@dataclass(frozen=True)
class ObjectView:
    """One actor in one rendered frame."""

    box: tuple[float, float, float, float] | None  # projected box clipped to the image (x, y, w, h) [px]
    in_image: float  # fraction of the projected box inside the image
    unoccluded: float  # fraction of the sprite not hidden by nearer actors
    distance: float  # camera to the actor's centre [m]

    @property
    def visible(self) -> float:
        """Fraction of the actor seen: inside the image and not hidden."""
        return self.in_image * self.unoccluded


class Renderer:
    def __init__(
        self,
        scenario: Scenario,
        camera: CameraSpec,
        seed: int = 0,
        texel: float = 0.07,
        tex_size: int = 4096,
        haze_distance: float = 450.0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.cam, self.scenario, self.texel, self.haze_distance = camera, scenario, texel, haze_distance
        tex = ground_texture(rng, tex_size, texel, scenario.roads)
        self.levels = [tex]
        for _ in range(3):
            self.levels.append(cv2.pyrDown(self.levels[-1]))
        self.sprites: dict[str, dict[str, list[np.ndarray]]] = {}
        for a in scenario.actors:
            if a.kind == "van":
                views = vehicle_sprites(rng, a.color, a.number, a.length, a.width, a.height)
            elif a.kind == "gantry":
                views = {"still": gantry_sprite(rng, a.width, a.height)}
            else:
                views = {"still": tree_sprite(rng, a.width, a.height)}
            self.sprites[a.name] = {k: _pyramid(v) for k, v in views.items()}
        self._pose: dict[str, tuple[float, float, float]] = {}
        k = camera.k
        self.k, self.k_inv = k, np.linalg.inv(k)

    # ---------------------------------------------------------------------------------
    def render(self, state: VehicleState, t: float) -> tuple[np.ndarray, dict[str, ObjectView]]:
        """BGR image and the view of every actor at time t from the vehicle's camera."""
        r_wc = camera_rotation(state)
        c = state.pos
        img = np.empty((self.cam.height, self.cam.width, 3), np.uint8)
        self._ground_and_sky(img, r_wc, c)
        poses = {a.name: a.pose(t) for a in self.scenario.actors}
        self._shadows(img, r_wc, c, poses)
        return img, self._actors(img, r_wc, c, poses)

    def project(self, r_wc: np.ndarray, c: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) to pixels (N, 2, corner origin) and depths (N,)."""
        p = (pts - c) @ r_wc  # optical frame coordinates
        z = p[:, 2]
        uv = (p @ self.k.T)[:, :2] / np.maximum(z, 1e-6)[:, None] + 0.5
        return uv, z

    def _ground_and_sky(self, img: np.ndarray, r_wc: np.ndarray, c: np.ndarray) -> None:
        h, w = img.shape[:2]
        k = self.k
        rows = np.arange(h, dtype=np.float64)
        # Ray z component per row (no roll: independent of the column).
        dz = r_wc[2, 1] * (rows - k[1, 2]) / k[1, 1] + r_wc[2, 2]
        ground = dz < -1e-4
        first = int(np.argmax(ground)) if ground.any() else h
        if first > 0:  # sky: blue overhead, haze at the horizon
            elev = np.clip(dz[:first], 0.0, 1.0)[:, None]
            sky = HAZE * (1 - elev**0.5) + SKY_TOP * elev**0.5
            img[:first] = sky[:, None, :].astype(np.uint8)
        if first >= h:
            return
        r_cw = r_wc.T
        t_vec = -r_cw @ c
        h_img_ground = k @ np.column_stack([r_cw[:, 0], r_cw[:, 1], t_vec])
        size = self.levels[0].shape[0]
        tile = size * self.texel
        ox, oy = math.floor(c[0] / tile) * tile, math.floor(c[1] / tile) * tile  # keeps texel coords small
        tex_from_world = np.array(
            [[1 / self.texel, 0, -ox / self.texel], [0, -1 / self.texel, oy / self.texel], [0, 0, 1.0]]
        )
        m = tex_from_world @ np.linalg.inv(h_img_ground)
        # Mip level per row from the ground footprint of a pixel at the image centre column.
        depth = -c[2] / dz[first:]
        ray_len = np.sqrt(1.0 + ((rows[first:] - k[1, 2]) / k[1, 1]) ** 2)
        dist = depth * ray_len
        foot_h = dist / k[0, 0] / self.texel
        grazing = np.clip(-dz[first:] / ray_len, 1e-3, 1.0)
        foot = np.sqrt(foot_h * foot_h / grazing)
        level = np.clip(np.floor(np.log2(np.maximum(foot, 1e-6)) + 0.3), 0, len(self.levels) - 1).astype(int)
        start = first
        while start < h:
            lv = level[start - first]
            end = start + 1
            while end < h and level[end - first] == lv:
                end += 1
            s = 0.5**lv
            band = np.diag([s, s, 1.0]) @ m @ np.array([[1, 0, 0], [0, 1, start], [0, 0, 1.0]])
            cv2.warpPerspective(
                self.levels[lv],
                band,
                (w, end - start),
                dst=img[start:end],
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_WRAP,
            )
            start = end
        fog = 1.0 - np.exp(-np.maximum(dist - HAZE_START, 0.0) / self.haze_distance)
        hazy = np.nonzero(fog > 0.02)[0]
        if len(hazy):
            last = first + int(hazy[-1]) + 1
            f = fog[: last - first, None, None].astype(np.float32)
            img[first:last] = (img[first:last] * (1 - f) + HAZE * f).astype(np.uint8)

    def _shadows(self, img: np.ndarray, r_wc: np.ndarray, c: np.ndarray, poses: dict) -> None:
        ang = np.linspace(0, 2 * math.pi, 16, endpoint=False)
        for a in self.scenario.actors:
            if a.kind == "gantry":
                continue
            x, y, hd = poses[a.name]
            ra, rb = (a.length * 0.45, a.width * 0.55) if a.kind == "van" else (a.width * 0.35, a.width * 0.35)
            ch, sh = math.cos(hd), math.sin(hd)
            ex, ey = ra * np.cos(ang), rb * np.sin(ang)
            pts = np.stack([x + ch * ex - sh * ey, y + sh * ex + ch * ey, np.zeros_like(ang)], 1)
            uv, z = self.project(r_wc, c, pts)
            if np.any(z < 0.5):
                continue
            x0, y0 = np.floor(uv.min(0)).astype(int)
            x1, y1 = np.ceil(uv.max(0)).astype(int)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, img.shape[1]), min(y1, img.shape[0])
            if x1 <= x0 or y1 <= y0:
                continue
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillPoly(mask, [np.round((uv - 0.5 - (x0, y0)) * 4).astype(np.int32)], 1, cv2.LINE_AA, shift=2)
            roi = img[y0:y1, x0:x1]
            roi[mask > 0] = (roi[mask > 0] * 0.55).astype(np.uint8)

    def _footprint(self, a: Actor, heading: float, cam_xy: np.ndarray) -> tuple[float, float, float]:
        """Billboard width [m] for this view, and cos / sin of the viewing angle off the heading."""
        if a.kind != "van":
            return a.width, 1.0, 0.0
        x, y, _ = self._pose[a.name]
        rel = math.atan2(cam_xy[1] - y, cam_xy[0] - x) - heading
        cs, sn = math.cos(rel), math.sin(rel)
        return abs(cs) * a.width + abs(sn) * a.length, cs, sn

    def _sprite(self, a: Actor, cs: float, sn: float, size: tuple[int, int]) -> np.ndarray:
        """BGRA sprite of ``size`` (w, h) pixels: side and end views cross-faded by the view angle."""
        pyr = self.sprites[a.name]
        if a.kind != "van":
            return _resized(pyr["still"], size)
        side = _resized(pyr["side"], size)
        if sn > 0:  # seen from its left: the van faces left
            side = side[:, ::-1]
        ws = sn * sn
        if ws > 0.97:
            return side
        end = _resized(pyr["front"] if cs > 0 else pyr["back"], size)
        return cv2.addWeighted(side, ws, end, 1.0 - ws, 0.0)

    def _actors(self, img: np.ndarray, r_wc: np.ndarray, c: np.ndarray, poses: dict) -> dict[str, ObjectView]:
        hh, ww = img.shape[:2]
        self._pose = poses
        items = []
        for a in self.scenario.actors:
            x, y, hd = poses[a.name]
            centre = np.array([x, y, a.height / 2.0])
            items.append((float(np.linalg.norm(centre - c)), a, centre, hd))
        items.sort(key=lambda it: -it[0])  # far to near
        drawn: list[tuple[str, tuple[int, int, int, int], np.ndarray]] = []
        views: dict[str, ObjectView] = {}
        up_w = np.array([0.0, 0.0, 1.0])
        for dist, a, centre, hd in items:
            views[a.name] = ObjectView(None, 0.0, 1.0, dist)
            width, cs, sn = self._footprint(a, hd, c[:2])
            los = (centre - c) / max(dist, 1e-6)
            if a.kind == "gantry":  # fixed in the world, seen from either side
                right, up = np.array([math.cos(hd), math.sin(hd), 0.0]), up_w
                if np.dot(right, _cross(los, up_w)) < 0:  # keep the sign readable from both sides
                    right = -right
            else:
                right = _cross(los, up_w)
                right /= max(float(np.linalg.norm(right)), 1e-6)
                up = _cross(right, los)
            hw, hh2 = right * width / 2.0, up * a.height / 2.0
            corners = np.array([centre - hw + hh2, centre + hw + hh2, centre + hw - hh2, centre - hw - hh2])
            uv, z = self.project(r_wc, c, corners)
            if np.any(z < 0.3):
                continue
            bx0, by0 = uv.min(0)
            bx1, by1 = uv.max(0)
            x0, y0 = max(int(math.floor(bx0)), 0), max(int(math.floor(by0)), 0)
            x1, y1 = min(int(math.ceil(bx1)), ww), min(int(math.ceil(by1)), hh)
            if x1 <= x0 or y1 <= y0:
                continue
            # The sprite at about its on-screen size, then warped exactly into the ROI.
            sw = max(2, int(round(np.linalg.norm(uv[1] - uv[0]))))
            sh = max(2, int(round(np.linalg.norm(uv[3] - uv[0]))))
            sprite = self._sprite(a, cs, sn, (sw, sh))
            src = np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]]) - 0.5  # corner to centre origin
            mat = cv2.getPerspectiveTransform(src, (uv - 0.5 - (x0, y0)).astype(np.float32))
            warped = cv2.warpPerspective(
                sprite,
                mat,
                (x1 - x0, y1 - y0),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=(0, 0, 0, 0),
            )
            alpha = warped[..., 3:].astype(np.float32) * (1.0 / 255.0)
            roi = img[y0:y1, x0:x1]
            roi[:] = (roi * (1 - alpha) + warped[..., :3] * alpha).astype(np.uint8)
            drawn.append((a.name, (x0, y0, x1, y1), alpha[..., 0]))
            full = max((bx1 - bx0) * (by1 - by0), 1e-6)
            inside = (min(bx1, ww) - max(bx0, 0)) * (min(by1, hh) - max(by0, 0)) / full
            box = (max(bx0, 0.0), max(by0, 0.0), min(bx1, ww) - max(bx0, 0.0), min(by1, hh) - max(by0, 0.0))
            views[a.name] = ObjectView(tuple(float(v) for v in box), float(np.clip(inside, 0, 1)), 1.0, dist)
        self._occlusion(drawn, views)
        return views

    @staticmethod
    def _occlusion(drawn: list, views: dict[str, ObjectView]) -> None:
        """Scale each actor's visible fraction by how much of it nearer actors cover."""
        for i, (name, (x0, y0, x1, y1), alpha) in enumerate(drawn):
            total = float(alpha.sum())
            if total <= 0.0:
                continue
            cover = np.zeros_like(alpha)
            for _, (u0, v0, u1, v1), other in drawn[i + 1 :]:
                ix0, iy0, ix1, iy1 = max(x0, u0), max(y0, v0), min(x1, u1), min(y1, v1)
                if ix1 <= ix0 or iy1 <= iy0:
                    continue
                sub = cover[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
                np.maximum(sub, other[iy0 - v0 : iy1 - v0, ix0 - u0 : ix1 - u0], out=sub)
            seen = float((alpha * (1.0 - cover)).sum()) / total
            v = views[name]
            views[name] = ObjectView(v.box, v.in_image, seen, v.distance)
