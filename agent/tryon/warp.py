"""Default try-on backend: warp the cut-out garment onto the body region and blend it in.

The garment's bounding box is mapped by a perspective warp onto the quad its category covers
(:func:`agent.tryon.regions.garment_quad`). Its coverage is then limited to the person mask and kept
off the face and hands; the person's own shading (blurred luminance) is carried onto it so folds
and light stay plausible. Pixels the garment does not cover are copied unchanged.
"""

from __future__ import annotations

import time

import numpy as np

from agent.tryon.base import TryOnRequest, TryOnResult, check_category, check_person_photo
from agent.tryon.body import BodyAnalysis, get_analyzer
from agent.tryon.garment import Garment, cut_garment
from agent.tryon.regions import garment_quad, polygon_mask, protected_mask, torso_polygon


class WarpTryOn:
    """Pose-guided perspective warp and blend (mediapipe landmarks and person mask)."""

    name = "mediapipe"

    def try_on(self, request: TryOnRequest) -> TryOnResult:
        """Return the person photo with the garment on it.

        Raises:
            TryOnInputError: for shoes and bags, a photo with no or several people, a needed body part out
                of frame, a photo too small or too large, or a garment with no separable background.
        """
        t0 = time.perf_counter()
        check_category(request.category)
        check_person_photo(request.person)
        garment = cut_garment(request.garment)
        body = get_analyzer().analyze(request.person)
        t1 = time.perf_counter()
        quad = garment_quad(body, request.category)
        image, alpha = compose(request.person, garment, body, quad)
        changed = alpha > 0
        torso = polygon_mask(torso_polygon(body), body.height, body.width)
        inter = float(np.logical_and(changed, torso).sum())
        union = float(np.logical_or(changed, torso).sum())
        data = {
            "analyze_s": round(t1 - t0, 4),
            "compose_s": round(time.perf_counter() - t1, 4),
            "torso_iou": round(inter / union, 4) if union else 0.0,
            "torso_coverage": round(inter / float(torso.sum()), 4) if torso.any() else 0.0,
            "quad": np.round(quad, 1).tolist(),
        }
        return TryOnResult(image=image, mask=changed, backend=self.name, data=data)


def compose(
    person: np.ndarray, garment: Garment, body: BodyAnalysis, quad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``garment`` onto ``quad`` and blend it into ``person``; return ``(image, alpha)``.

    ``alpha`` is 0 exactly where the photo is left untouched.
    """
    import cv2

    h, w = person.shape[:2]
    gh, gw = garment.alpha.shape
    src = np.array([[0, 0], [gw, 0], [gw, gh], [0, gh]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    rgb = cv2.warpPerspective(garment.rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    cover = cv2.warpPerspective(garment.alpha, matrix, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    person_soft = np.clip((body.person - 0.35) / 0.3, 0.0, 1.0)
    protect = protected_mask(body)
    s_width = max(8.0, float(np.linalg.norm(quad[1] - quad[0])) / 1.44)
    k = int(max(3, round(s_width / 30)) | 1)
    grown = cv2.dilate(protect.astype(np.uint8), np.ones((k, k), np.uint8))
    keep = cv2.GaussianBlur(1.0 - grown.astype(np.float32), (2 * k + 1, 2 * k + 1), 0) * (~protect)
    alpha: np.ndarray = (cover * person_soft * keep).astype(np.float32)
    alpha[alpha < 0.03] = 0.0
    region = alpha > 0.5
    if not region.any():
        return person.copy(), np.zeros((h, w), dtype=np.float32)
    lum = cv2.cvtColor(person, cv2.COLOR_RGB2GRAY).astype(np.float32)
    sigma = max(2.0, s_width / 12)
    lum = np.asarray(cv2.GaussianBlur(lum, (0, 0), sigma), dtype=np.float32)
    ref = max(float(np.median(lum[region])), 1.0)
    shade = np.clip(1.0 + 0.3 * (lum / ref - 1.0), 0.8, 1.1)[..., None]
    dressed = np.clip(rgb.astype(np.float32) * shade, 0, 255)
    a = alpha[..., None]
    blended = person.astype(np.float32) * (1.0 - a) + dressed * a
    out = np.where(a > 0, np.clip(blended + 0.5, 0, 255).astype(np.uint8), person)
    return out, alpha.astype(np.float32)
