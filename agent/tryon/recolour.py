"""Default try-on backend: the garment's colour put into the shopper's own clothes, keeping the photo's light.

The clothing region comes from :func:`agent.tryon.clothing.find_clothing` (person mask, pose zones by the
garment's cut, minus skin, hair, face and hands). Inside it, in CIE Lab:

- chroma (a, b) becomes the garment's (its median colour on the product photo);
- lightness keeps the photo's shading: the original clothing's lightness, centred on its median and
  (for flat, dark clothes) its contrast lifted, is added to the garment's lightness and softly compressed
  into the room left above and below it. A white shirt comes out white with its folds shaded; a black
  one dark with its highlights kept.

Pixels outside the region are copied unchanged (byte for byte).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from agent.catalog.vocab import category_label
from agent.tryon.base import TryOnInputError, TryOnRequest, TryOnResult, check_category, check_person_photo
from agent.tryon.body import L_SHOULDER, R_SHOULDER, BodyAnalysis, get_analyzer
from agent.tryon.clothing import Cut, find_clothing, garment_cut
from agent.tryon.garment import Garment, cut_garment
from agent.tryon.regions import garment_quad, polygon_mask, protected_mask, torso_polygon

#: Longest side (pixels) the clothing region is found at; larger photos are scaled down for it.
REGION_SIDE = 768
#: Spread of lightness (L units, robust std) the original clothing's shading is lifted to when flatter.
MIN_SHADING = 7.0
#: Most the shading contrast is lifted (a black coat's faint folds).
MAX_GAIN = 4.0
#: Largest share of the region one patch of trim may take (a bigger one is part of the clothes: a colour block).
MAX_PATCH = 0.25


def fabric(lab: np.ndarray, alpha: np.ndarray, s_width: float) -> np.ndarray:
    """Return ``alpha`` with the trim left out: patches whose colour is far from the clothing's main fabric.

    Badges, name tags, a white collar under a dark jacket, a suit's metal neck ring, or the edge of
    something held are not the fabric the new garment replaces; they keep their own pixels, as they
    would on the new garment. A patch counts when its lightness is more than ``max(25, 4 spreads)`` from
    the fabric's median or its chroma more than 28 (Lab units) away, when it is wider than 3% of the
    shoulders (thin stripes and small prints stay fabric) and when it takes at most :data:`MAX_PATCH` of
    the region.
    """
    import cv2

    inside = alpha > 0.5
    vals = lab[inside]
    med = np.median(vals, axis=0)
    q25, q75 = np.percentile(vals[:, 0], [25, 75])
    spread = max(float(q75 - q25) / 1.349, 1.0)
    far = (np.abs(lab[..., 0] - med[0]) > max(25.0, 4.0 * spread)) | (
        np.hypot(lab[..., 1] - med[1], lab[..., 2] - med[2]) > 28.0)
    k = max(3, round(0.03 * s_width)) | 1
    opened = cv2.morphologyEx((far & (alpha > 0)).astype(np.uint8), cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    small = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] <= MAX_PATCH * float(inside.sum())]
    if not small:
        return alpha
    patches = np.isin(labels, small).astype(np.uint8)
    # the patch with its own far-coloured rim (the opening shaved it); the blend pixels around it are fabric
    trim: np.ndarray = np.asarray(cv2.dilate(patches, np.ones((5, 5), np.uint8)) > 0) & far
    out = alpha.copy()
    out[trim] = 0.0
    return out


def garment_colour(garment: Garment) -> np.ndarray:
    """Return the garment's median colour as CIE Lab ``(3,)`` float32 (L 0..100) from its product photo."""
    import cv2

    px = garment.rgb[garment.mask].reshape(-1, 1, 3)
    lab = cv2.cvtColor(px.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    return np.median(lab, axis=0).astype(np.float32)


def shade(lightness: np.ndarray, inside: np.ndarray, target: float) -> np.ndarray:
    """Map the photo's lightness (any shape, L 0..100) to the garment's, keeping its shading.

    ``inside`` (bool) marks the clothing the statistics come from. Its median maps to ``target``; the
    deviations from it are scaled linearly (lifted up to :data:`MAX_GAIN` when the clothing is flat, and
    scaled down on the side where ``target`` leaves little room, so that the 2nd to 98th percentiles fit
    into 85% of it: a white garment keeps its shadows at full strength and its highlights compressed, a
    black one the reverse). Only the tails beyond are eased (tanh) into ``[0, 100]``.
    """
    vals = lightness[inside]
    ref = float(np.median(vals))
    q2, q25, q75, q98 = np.percentile(vals, [2, 25, 75, 98])
    spread = max(float(q75 - q25) / 1.349, 0.5)
    gain = float(np.clip(MIN_SHADING / spread, 1.0, MAX_GAIN))
    up = max(100.0 - target, 4.0) * 0.97
    down = max(target, 4.0) * 0.97
    g_up = float(np.clip(0.85 * up / max(float(q98) - ref, 1e-3), 0.25, gain))
    g_down = float(np.clip(0.85 * down / max(ref - float(q2), 1e-3), 0.25, gain))
    dev = lightness - ref
    scaled = np.where(dev > 0, g_up * dev, g_down * dev)
    out = target + np.where(scaled > 0, up * np.tanh(scaled / up), down * np.tanh(scaled / down))
    return np.asarray(out, dtype=np.float32)


def render(person: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Return ``person`` (``(H, W, 3)`` uint8 RGB) with the region ``alpha`` recoloured to Lab ``colour``.

    Only the pixels where ``alpha`` is above 0 are converted and written; all others are copied unchanged.
    """
    import cv2

    where = alpha > 0
    if not (alpha > 0.5).any():
        return person.copy()
    px = person[where].reshape(-1, 1, 3)
    a = alpha[where].reshape(-1, 1, 1)
    lightness = cv2.cvtColor(px.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[..., 0]
    new = np.empty((px.shape[0], 1, 3), np.float32)
    new[..., 0] = shade(lightness, a[..., 0] > 0.5, float(colour[0]))
    new[..., 1] = colour[1]
    new[..., 2] = colour[2]
    rgb = np.clip(cv2.cvtColor(new, cv2.COLOR_LAB2RGB) * 255.0, 0.0, 255.0)
    blended = px.astype(np.float32) * (1.0 - a) + rgb * a
    out = person.copy()
    out[where] = np.clip(blended + 0.5, 0, 255).astype(np.uint8).reshape(-1, 3)
    return out


class RecolourTryOn:
    """Clothing region from mediapipe pose and person mask, recoloured in Lab with the photo's shading."""

    name = "mediapipe"

    @staticmethod
    def region(person: np.ndarray, body: BodyAnalysis, cut: Cut) -> tuple[np.ndarray, list[str]]:
        """Return the ``(H, W)`` float32 alpha to paint (trim left out) and the bare body parts.

        The region is found on a copy scaled to at most :data:`REGION_SIDE` pixels a side (a phone photo
        would take seconds at full size) and its alpha scaled back; the face and hands stay at 0.
        """
        import cv2

        h, w = person.shape[:2]
        scale = min(1.0, REGION_SIDE / max(h, w))
        small, sbody = person, body
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(person, size, interpolation=cv2.INTER_AREA)
            sbody = replace(body, width=size[0], height=size[1], points=body.points * np.float32(scale),
                            person=cv2.resize(body.person, size, interpolation=cv2.INTER_AREA))
        region = find_clothing(small, sbody, cut)
        lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
        s_width = float(np.linalg.norm(sbody.points[L_SHOULDER] - sbody.points[R_SHOULDER]))
        alpha = fabric(lab, region.alpha, s_width)
        if scale < 1.0:
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
            alpha[protected_mask(body)] = 0.0
            alpha[alpha < 0.03] = 0.0
        return np.asarray(alpha, dtype=np.float32), list(region.uncovered)

    def try_on(self, request: TryOnRequest) -> TryOnResult:
        """Return the person photo with the garment's colour in their clothes.

        ``data`` holds ``analyze_s`` and ``compose_s`` (seconds), ``region_px``, ``torso_coverage`` (share of
        the shoulder-hip polygon drawn), ``sleeves`` and ``length`` (the cut used) and ``uncovered`` (body
        parts the garment covers that the photo shows bare: the reply says so).

        Raises:
            TryOnInputError: for shoes and bags, a photo with no or several people, a needed body part out
                of frame, a photo too small or too large, a garment with no separable background, or a
                photo with no clothing where the garment goes.
        """
        t0 = time.perf_counter()
        check_category(request.category)
        check_person_photo(request.person)
        garment = cut_garment(request.garment)
        body = get_analyzer().analyze(request.person)
        t1 = time.perf_counter()
        garment_quad(body, request.category)  # the body part checks (shoulders, torso, hips, legs in frame)
        cut = garment_cut(request.category, request.description, garment)
        alpha, uncovered = self.region(request.person, body, cut)
        if int((alpha > 0.5).sum()) < 200:
            raise TryOnInputError(
                f"I can't find your clothes where the {category_label(request.category)} goes in this photo; "
                "attach one with your body in clothes, facing the camera."
            )
        changed = alpha > 0
        image = render(request.person, alpha, garment_colour(garment))
        torso = polygon_mask(torso_polygon(body), body.height, body.width)
        data = {
            "analyze_s": round(t1 - t0, 4),
            "compose_s": round(time.perf_counter() - t1, 4),
            "region_px": int(changed.sum()),
            "torso_coverage": round(float((changed & torso).sum()) / float(torso.sum()), 4) if torso.any() else 0.0,
            "sleeves": cut.sleeves,
            "length": cut.length,
            "uncovered": uncovered,
        }
        return TryOnResult(image=image, mask=changed, backend=self.name, data=data)
