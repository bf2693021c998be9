"""Body regions from pose landmarks: where each category of garment goes, and what must stay untouched."""

from __future__ import annotations

import numpy as np

from agent.catalog.vocab import category_label
from agent.tryon.base import TryOnInputError, check_category
from agent.tryon.body import (
    L_ANKLE,
    L_EAR,
    L_EYE,
    L_HAND,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    MOUTH_L,
    MOUTH_R,
    R_ANKLE,
    R_EAR,
    R_EYE,
    R_HAND,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    BodyAnalysis,
)

UPPER = ("top", "shirt", "pullover", "coat", "dress")
#: Smallest shoulder width (pixels) at which a garment is drawn.
MIN_SHOULDER_PX = 24.0


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else v


def garment_quad(body: BodyAnalysis, category: str) -> np.ndarray:
    """Return the ``(4, 2)`` quad (top-left, top-right, bottom-right, bottom-left, image coordinates).

    The garment's bounding box is mapped onto it.

    Raises:
        TryOnInputError: for shoes and bags, or when the body part the garment needs is out of frame.
    """
    check_category(category)
    label = category_label(category)
    if category in UPPER:
        return _upper_quad(body, category, label)
    return _trousers_quad(body, label)


def _upper_quad(body: BodyAnalysis, category: str, label: str) -> np.ndarray:
    if not (body.visible(L_SHOULDER) and body.visible(R_SHOULDER)):
        raise TryOnInputError(
            f"I can't see both of your shoulders in this photo, so I can't place the {label}; attach a photo "
            "facing the camera with your shoulders and upper body in the frame."
        )
    sl, sr = body.pair(L_SHOULDER, R_SHOULDER)
    hl, hr = body.pair(L_HIP, R_HIP)
    s_width = float(np.linalg.norm(sr - sl))
    if s_width < MIN_SHOULDER_PX:
        raise TryOnInputError("You look very small in this photo; attach one taken closer, with your upper body "
                              "filling more of the frame.")
    sm, hm = (sl + sr) / 2, (hl + hr) / 2
    down = hm - sm
    torso = float(np.linalg.norm(down))
    if down[1] <= 0 or torso < 0.6 * s_width:
        raise TryOnInputError("I can't make out your torso in this photo; attach one standing upright and facing "
                              "the camera.")
    seen = (min(float(body.height), float(hm[1])) - float(sm[1])) / float(down[1])
    if seen < 0.3:
        raise TryOnInputError(
            f"Only your shoulders are in this photo; for the {label}, attach one showing your upper body down "
            "to the waist."
        )
    d, u = _unit(down), _unit(sr - sl)
    kl, kr = body.pair(L_KNEE, R_KNEE)
    km = (kl + kr) / 2
    if category == "dress":
        if not (body.in_frame(L_HIP) and body.in_frame(R_HIP)) or seen < 1.0:
            raise TryOnInputError("A dress needs your body down to the hips in the photo (ideally to the knees); "
                                  "attach a longer photo.")
        end = km + d * 0.05 * torso
        bottom_half = 0.85 * s_width
    elif category == "coat":
        end = hm + (km - hm) * 0.45
        bottom_half = 0.75 * s_width
    else:
        end = hm + d * 0.05 * torso
        bottom_half = 0.62 * s_width
    top = sm - d * 0.06 * torso
    top_half = 0.68 * s_width
    return np.array([top - u * top_half, top + u * top_half, end + u * bottom_half, end - u * bottom_half],
                    dtype=np.float32)


def _trousers_quad(body: BodyAnalysis, label: str) -> np.ndarray:
    if not (body.visible(L_HIP) and body.visible(R_HIP) and body.in_frame(L_KNEE) and body.in_frame(R_KNEE)):
        raise TryOnInputError(
            f"Your hips and legs aren't in this photo, so I can't show the {label} on you; attach a full-length "
            "photo (at least down to the knees)."
        )
    hl, hr = body.pair(L_HIP, R_HIP)
    al, ar = body.pair(L_ANKLE, R_ANKLE)
    if not (body.visible(L_ANKLE) and body.visible(R_ANKLE)):
        kl, kr = body.pair(L_KNEE, R_KNEE)
        al, ar = kl + (kl - hl), kr + (kr - hr)
    h_width = float(np.linalg.norm(hr - hl))
    if h_width < MIN_SHOULDER_PX * 0.6:
        raise TryOnInputError("You look very small in this photo; attach one taken closer.")
    hm, am = (hl + hr) / 2, (al + ar) / 2
    down = am - hm
    if down[1] <= 0:
        raise TryOnInputError("I can't make out your legs in this photo; attach one standing upright.")
    d, u = _unit(down), _unit(hr - hl)
    leg = float(np.linalg.norm(down))
    top = hm - d * 0.06 * leg
    end = am + d * 0.02 * leg
    spread = max(float(abs(ar[0] - al[0])) / 2 + 0.35 * h_width, 0.9 * h_width)
    return np.array([top - u * 0.95 * h_width, top + u * 0.95 * h_width, end + u * spread, end - u * spread],
                    dtype=np.float32)


def torso_polygon(body: BodyAnalysis) -> np.ndarray:
    """Return the shoulder-hip polygon ``(4, 2)`` (left shoulder, right shoulder, right hip, left hip)."""
    sl, sr = body.pair(L_SHOULDER, R_SHOULDER)
    hl, hr = body.pair(L_HIP, R_HIP)
    return np.array([sl, sr, hr, hl], dtype=np.float32)


def polygon_mask(poly: np.ndarray, height: int, width: int) -> np.ndarray:
    """Rasterise a polygon into a boolean ``(height, width)`` mask (clipped to the frame)."""
    import cv2

    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def protected_mask(body: BodyAnalysis) -> np.ndarray:
    """Return a boolean mask of the face and hands, which try-on never paints over."""
    import cv2

    h, w = body.height, body.width
    mask = np.zeros((h, w), dtype=np.uint8)
    p = body.points
    eyes = (p[L_EYE] + p[R_EYE]) / 2
    mouth = (p[MOUTH_L] + p[MOUTH_R]) / 2
    em = max(float(np.linalg.norm(mouth - eyes)), 4.0)
    ears = float(np.linalg.norm(p[L_EAR] - p[R_EAR]))
    chin = mouth + _unit(mouth - eyes) * 1.3 * em
    brow_top = eyes - _unit(mouth - eyes) * 2.0 * em
    centre = (chin + brow_top) / 2
    ry = float(np.linalg.norm(chin - brow_top)) / 2
    rx = max(0.62 * ears, 1.6 * em)
    angle = float(np.degrees(np.arctan2(*(mouth - eyes)[::-1]))) - 90.0
    cv2.ellipse(mask, (round(float(centre[0])), round(float(centre[1]))), (round(rx), round(ry)), angle, 0, 360, 1,
                -1)
    s_width = float(np.linalg.norm(p[L_SHOULDER] - p[R_SHOULDER]))
    for hand in (L_HAND, R_HAND):
        pts = p[list(hand)]
        c = pts.mean(axis=0)
        r = max(1.4 * float(np.linalg.norm(pts - c, axis=1).max()), 0.14 * s_width, 6.0)
        if -r <= c[0] <= w + r and -r <= c[1] <= h + r:
            cv2.circle(mask, (round(float(c[0])), round(float(c[1]))), round(r), 1, -1)
    return mask.astype(bool)
