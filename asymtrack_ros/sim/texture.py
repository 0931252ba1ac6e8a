"""Procedural, seeded textures: a tileable ground and vehicle / tree sprites (BGRA)."""

from __future__ import annotations

import math

import cv2
import numpy as np


def periodic_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Tileable smooth noise in [-1, 1] with features about ``scale`` texels across (FFT-filtered)."""
    white = rng.standard_normal((size, size)).astype(np.float32)
    f = np.fft.fftfreq(size).astype(np.float32)
    r2 = f[:, None] ** 2 + f[None, :] ** 2
    spectrum = np.fft.rfft2(white) * np.exp(-r2 * (scale**2) * 2.0)[:, : size // 2 + 1]
    out = np.fft.irfft2(spectrum, s=(size, size)).astype(np.float32)
    return out / (np.abs(out).max() + 1e-6)


def _upsample_tileable(img: np.ndarray, size: int) -> np.ndarray:
    pad = 2
    n = img.shape[0]
    big = cv2.resize(
        np.pad(img, [(pad, pad), (pad, pad)] + [(0, 0)] * (img.ndim - 2), mode="wrap"),
        None,
        fx=size / n,
        fy=size / n,
        interpolation=cv2.INTER_CUBIC,
    )
    o = pad * size // n
    return big[o : o + size, o : o + size]


def _polyline_wrapped(img: np.ndarray, pts: np.ndarray, color: tuple, width: int) -> None:
    """Draw on a tile so that lines crossing its edge continue on the other side."""
    n = img.shape[0]
    for dx in (-n, 0, n):
        for dy in (-n, 0, n):
            shifted = np.round(pts + (dx, dy)).astype(np.int32)
            cv2.polylines(img, [shifted], False, color, width, cv2.LINE_AA)


def ground_texture(rng: np.random.Generator, size: int, texel: float, roads: list[np.ndarray]) -> np.ndarray:
    """BGR ground tile ``size`` texels square, ``texel`` metres each; ``roads`` are world
    polylines (metres, origin at texel (0, 0), y north = up in the image).

    Colour variation is computed at 1/4 resolution and upsampled; detail comes from
    fields, bushes, roads and per-texel grain (keeps generation well under a second).
    """
    low = size // 4
    g1 = _upsample_tileable(periodic_noise(rng, size // 16, 18.0), low)
    g2 = periodic_noise(rng, low, 6.0)
    grass = np.array([60, 120, 70], np.float32)  # BGR
    dry = np.array([80, 150, 160], np.float32)
    soil = np.array([70, 95, 125], np.float32)
    w_dry = np.clip(g1 * 1.5, 0, 1)[..., None]
    w_soil = np.clip(-g1 * 1.5 - 0.3, 0, 1)[..., None]
    base = (grass * (1 - w_dry - w_soil) + dry * w_dry + soil * w_soil) * (1.0 + 0.2 * g2[..., None])
    img = _upsample_tileable(np.clip(base, 0, 255).astype(np.uint8), size)
    # Fields: striped rectangles (crop rows) of another colour.
    for _ in range(14):
        cx, cy = rng.uniform(0, size, 2)
        w, h = rng.uniform(0.05, 0.18, 2) * size
        ang = rng.uniform(0, 180)
        color = rng.uniform([40, 90, 60], [110, 170, 170])
        period = rng.uniform(6, 14)
        box = cv2.boxPoints(((cx, cy), (w, h), ang))
        x0, y0 = np.clip(np.floor(box.min(0)), 0, size).astype(int)
        x1, y1 = np.clip(np.ceil(box.max(0)), 0, size).astype(int)
        if x1 <= x0 or y1 <= y0:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(box - (x0, y0)).astype(np.int32), 1)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        t = math.radians(ang)
        stripes = 0.85 + 0.15 * np.sign(np.sin((xx * math.cos(t) + yy * math.sin(t)) * 2 * math.pi / period))
        field_img = np.clip(color * stripes[..., None], 0, 255).astype(np.uint8)
        roi = img[y0:y1, x0:x1]
        roi[mask > 0] = field_img[mask > 0]
    # Bushes: dark blobs.
    for _ in range(500):
        c = tuple(int(v) for v in rng.uniform(0, size, 2))
        r = int(rng.uniform(4, 14))
        col = tuple(float(v) for v in rng.uniform([25, 55, 30], [55, 90, 60]))
        cv2.circle(img, c, r, col, -1, cv2.LINE_AA)
    for road in roads:
        px = np.stack([road[:, 0] / texel, size - road[:, 1] / texel], axis=1) % size
        # Unwrap so a polyline stays continuous across the tile edge before wrapped drawing.
        px = np.concatenate([[px[0]], px[0] + np.cumsum((np.diff(px, axis=0) + size / 2) % size - size / 2, axis=0)])
        _polyline_wrapped(img, px, (95, 98, 100), max(1, int(11.0 / texel)))
        _polyline_wrapped(img, px, (120, 124, 126), max(1, int(0.3 / texel)))
    # Per-texel grain (luminance), saturating uint8 arithmetic.
    grain = rng.integers(0, 17, (size, size), dtype=np.uint8)
    img = cv2.subtract(cv2.add(img, cv2.merge([grain, grain, grain])), np.full_like(img, 8))
    return img


def vehicle_sprites(
    rng: np.random.Generator,
    color: tuple[int, int, int],
    number: int,
    length_m: float = 4.5,
    width_m: float = 1.9,
    height_m: float = 2.0,
    px_per_m: float = 80.0,
) -> dict[str, np.ndarray]:
    """BGRA views of a van: 'side' (facing right), 'front', 'back'; the body fills each sprite."""
    h = int(height_m * px_per_m)
    noise = rng.standard_normal((h, int(length_m * px_per_m))).astype(np.float32)
    views = {}
    for view, width in (("side", length_m), ("front", width_m), ("back", width_m)):
        w = int(width * px_per_m)
        img = np.zeros((h, w, 4), np.uint8)
        body = np.array(color, np.float32)
        top = int(0.08 * h)
        cv2.rectangle(img, (0, top), (w - 1, int(0.86 * h)), (*color, 255), -1)
        cv2.rectangle(img, (int(0.04 * w), 0), (int(0.96 * w), top + 4), (*(body * 0.8).astype(int).tolist(), 255), -1)
        stripe = tuple(int(255 - c) for c in color)
        cv2.rectangle(img, (0, int(0.55 * h)), (w - 1, int(0.62 * h)), (*stripe, 255), -1)
        dark = (60, 45, 40, 255)
        if view == "side":
            for x0, x1 in ((0.05, 0.27), (0.31, 0.55), (0.59, 0.8)):
                cv2.rectangle(img, (int(x0 * w), int(0.16 * h)), (int(x1 * w), int(0.42 * h)), dark, -1)
                glint = (140, 120, 110, 255)
                cv2.line(img, (int(x0 * w) + 6, int(0.4 * h)), (int(x0 * w) + 20, int(0.18 * h)), glint, 3)
            for xc in (0.18, 0.8):
                cv2.circle(img, (int(xc * w), int(0.86 * h)), int(0.14 * h), (25, 25, 25, 255), -1)
                cv2.circle(img, (int(xc * w), int(0.86 * h)), int(0.06 * h), (150, 150, 150, 255), -1)
            cv2.putText(
                img,
                str(number),
                (int(0.38 * w), int(0.53 * h)),
                cv2.FONT_HERSHEY_SIMPLEX,
                2.2,
                (*stripe, 255),
                6,
                cv2.LINE_AA,
            )
        else:
            cv2.rectangle(img, (int(0.08 * w), int(0.14 * h)), (int(0.92 * w), int(0.45 * h)), dark, -1)
            lamp = (200, 240, 255, 255) if view == "front" else (40, 40, 220, 255)
            for xc in (0.16, 0.84):
                cv2.circle(img, (int(xc * w), int(0.68 * h)), int(0.06 * h), lamp, -1)
            cv2.rectangle(img, (int(0.3 * w), int(0.7 * h)), (int(0.7 * w), int(0.8 * h)), (200, 200, 200, 255), -1)
            for xc in (0.12, 0.88):
                cv2.rectangle(
                    img, (int((xc - 0.08) * w), int(0.84 * h)), (int((xc + 0.08) * w), h - 1), (25, 25, 25, 255), -1
                )
        rgb = img[..., :3].astype(np.float32) * (1.0 + 0.06 * noise[:, :w, None])
        img[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
        views[view] = img
    return views


def tree_sprite(rng: np.random.Generator, width_m: float, height_m: float, px_per_m: float = 30.0) -> np.ndarray:
    """BGRA tree: trunk and a lumpy, shaded canopy."""
    w, h = int(width_m * px_per_m), int(height_m * px_per_m)
    img = np.zeros((h, w, 4), np.uint8)
    cv2.rectangle(img, (int(0.44 * w), int(0.55 * h)), (int(0.56 * w), h - 1), (40, 60, 85, 255), -1)
    for _ in range(60):
        cx = rng.normal(0.5, 0.16) * w
        cy = rng.normal(0.36, 0.13) * h
        r = rng.uniform(0.08, 0.2) * w
        shade = rng.uniform(0.6, 1.1)
        cv2.circle(
            img, (int(cx), int(cy)), int(r), (int(40 * shade), int(110 * shade), int(50 * shade), 255), -1, cv2.LINE_AA
        )
    noise = rng.standard_normal((h, w, 1)).astype(np.float32) * 12.0
    img[..., :3] = np.clip(img[..., :3].astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return img


def gantry_sprite(rng: np.random.Generator, width_m: float, height_m: float, px_per_m: float = 30.0) -> np.ndarray:
    """BGRA sign gantry: two posts and a sign panel over the top third (transparent below it)."""
    w, h = int(width_m * px_per_m), int(height_m * px_per_m)
    img = np.zeros((h, w, 4), np.uint8)
    post = max(2, int(0.35 * px_per_m))
    for x0 in (0, w - post):
        cv2.rectangle(img, (x0, 0), (x0 + post - 1, h - 1), (150, 150, 155, 255), -1)
    top, bottom = int(0.05 * h), int(0.34 * h)
    cv2.rectangle(img, (0, int(0.02 * h)), (w - 1, int(0.05 * h)), (150, 150, 155, 255), -1)
    cv2.rectangle(img, (int(0.08 * w), top), (int(0.92 * w), bottom), (120, 70, 20, 255), -1)
    cv2.rectangle(img, (int(0.08 * w), top), (int(0.92 * w), bottom), (235, 235, 235, 255), 3)
    for i, text in enumerate(("NORTH 12", "CENTRE 4")):
        cv2.putText(
            img,
            text,
            (int(0.14 * w), top + int((0.45 + 0.4 * i) * (bottom - top))),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.6,
            (235, 235, 235, 255),
            3,
            cv2.LINE_AA,
        )
    noise = rng.standard_normal((h, w, 1)).astype(np.float32) * 5.0
    img[..., :3] = np.clip(img[..., :3].astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return img
