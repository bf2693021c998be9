"""Find the clothes in a shopper's photo: person mask, body-part zones from pose landmarks, minus skin and hair.

The region a garment may be drawn into is

    person mask (selfie segmentation)
    ∩ the body-part zones its cut covers (torso band, upper arms, forearms, legs; from the pose landmarks),
      grown into clothing of the same fabric right next to them (baggy sleeves, an arm hidden behind
      something held)
    − skin (a colour model seeded from the shopper's own face: Lab mean and covariance of the cheeks)
    − hair (a colour model seeded from the top of the head, near the head only)
    − face and hands (never painted).

Everything is computed on the photo's own pixels, with numpy and OpenCV; no model weights beyond the
mediapipe ones :mod:`agent.tryon.body` already runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from agent.tryon.body import (
    L_ANKLE,
    L_EAR,
    L_ELBOW,
    L_EYE,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    MOUTH_L,
    MOUTH_R,
    NOSE,
    R_ANKLE,
    R_EAR,
    R_ELBOW,
    R_EYE,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    BodyAnalysis,
)
from agent.tryon.garment import Garment
from agent.tryon.regions import polygon_mask, protected_mask

#: Squared Mahalanobis distance (Lab) under which a pixel counts as skin / hair.
SKIN_D2 = 9.0
HAIR_D2 = 6.0
#: Landmark visibility under which an elbow or wrist inside the frame does not claim its arm zone (hidden
#: behind something held); one outside the frame does (the arm goes on out of the photo).
ARM_VISIBLE = 0.5


@dataclass(frozen=True)
class Cut:
    """The shape of a garment: which body parts it covers.

    Attributes:
        sleeves: ``"none"`` (sleeveless), ``"short"`` (upper arms) or ``"long"`` (to the wrists).
        length: ``"cropped"`` (above the waist), ``"hip"``, ``"thigh"`` (coats), ``"knee"`` (dresses) or
            ``"legs"`` (trousers: hips to ankles, no torso).
    """

    sleeves: str
    length: str


_SLEEVELESS = re.compile(r"\b(sleeveless|tank|cami|camisole|strap|strappy|strapless|halter|vest|bandeau|slip)\b", re.I)
_SHORT = re.compile(r"\b(short[- ]sleeved?|tee|t-shirt|polo|sundress)\b", re.I)
_LONG = re.compile(r"\b(long[- ]sleeved?|jumper|sweater|cardigan|hoodie|sweatshirt|turtleneck)\b", re.I)
_CROP = re.compile(r"\bcrop(ped)?\b", re.I)


def garment_cut(category: str, description: str = "", garment: Garment | None = None) -> Cut:
    """Decide which body parts a garment covers, from its category, its title and its silhouette.

    Words in the title win (``sleeveless``, ``tank``, ``crop``, ``long-sleeved``, ``tee``); otherwise the
    garment mask is read: sleeves stand out as rows much wider than the body, and how far down they reach
    says short or long. Without either, the category's usual cut (pullovers and coats long-sleeved, tops
    short-sleeved, dresses sleeveless).
    """
    length = {"coat": "thigh", "dress": "knee", "trousers": "legs"}.get(category, "hip")
    if category == "trousers":
        return Cut("none", "legs")
    if _CROP.search(description) and category in ("top", "shirt", "pullover"):
        length = "cropped"
    default = {"pullover": "long", "coat": "long", "shirt": "long", "top": "short", "dress": "none"}[category]
    if _SLEEVELESS.search(description):
        return Cut("none", length)
    if _LONG.search(description):
        return Cut("long", length)
    if _SHORT.search(description):
        return Cut("short", length)
    seen = _sleeves_from_mask(garment.mask) if garment is not None else None
    return Cut(seen or default, length)


def _sleeves_from_mask(mask: np.ndarray) -> str | None:
    """Read sleeves off a front-view garment mask: ``none``, ``short``, ``long`` or None when unclear."""
    h, w = mask.shape
    if h < 12 or w < 12:
        return None
    widths = np.array([(int(np.ptp(np.nonzero(r)[0])) + 1) if r.any() else 0 for r in mask], dtype=np.float32)
    body = float(np.median(widths[int(0.55 * h):int(0.9 * h)]))
    if body <= 0:
        return None
    wide = np.nonzero(widths[: int(0.95 * h)] > 1.3 * body)[0]
    if wide.size == 0:
        return "none"
    reach = float(wide.max()) / h
    return "long" if reach > 0.6 else "short"


@dataclass
class ClothingRegion:
    """Where a garment goes in a photo and what was found around it.

    Attributes:
        alpha: ``(H, W)`` float32 in ``[0, 1]``: how much of the garment each pixel takes (soft edge); 0 exactly
            where the photo must stay untouched.
        clothing: ``(H, W)`` bool: everything the person wears below the chin (all body parts), for measuring.
        skin: ``(H, W)`` bool skin pixels (face-seeded colour model, inside the person mask).
        hair: ``(H, W)`` bool hair pixels near the head.
        cut: The garment's cut used.
        uncovered: Body parts the garment covers that the photo shows bare or out of frame (said in the reply).
    """

    alpha: np.ndarray
    clothing: np.ndarray
    skin: np.ndarray
    hair: np.ndarray
    cut: Cut
    uncovered: list[str] = field(default_factory=list)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else v


def _lab(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB to float32 CIE Lab (L in 0..100, a and b about -128..127)."""
    import cv2

    return np.asarray(cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB), dtype=np.float32)


def _colour_model(samples: np.ndarray, floor: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray] | None:
    """Robust Lab mean and inverse covariance of ``(n, 3)`` samples (central 80% in L), variances floored."""
    if samples.shape[0] < 30:
        return None
    lo, hi = np.percentile(samples[:, 0], [10, 90])
    core = samples[(samples[:, 0] >= lo) & (samples[:, 0] <= hi)]
    if core.shape[0] < 20:
        core = samples
    mean = core.mean(axis=0)
    cov = np.cov(core.T) + np.diag(np.square(np.asarray(floor, dtype=np.float64)))
    return mean.astype(np.float32), np.linalg.inv(cov).astype(np.float32)


def _d2(lab: np.ndarray, model: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mean, inv = model
    d = lab - mean
    return np.einsum("...i,ij,...j->...", d, inv, d)


def _face_geometry(body: BodyAnalysis) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Return the eyes' and mouth's midpoints, the eye-mouth distance and the ear-to-ear width (pixels)."""
    p = body.points
    eyes = (p[L_EYE] + p[R_EYE]) / 2
    mouth = (p[MOUTH_L] + p[MOUTH_R]) / 2
    em = max(float(np.linalg.norm(mouth - eyes)), 4.0)
    ears = max(float(np.linalg.norm(p[L_EAR] - p[R_EAR])), 2 * em)
    return eyes, mouth, em, ears


def skin_mask(lab: np.ndarray, body: BodyAnalysis, person: np.ndarray) -> np.ndarray:
    """Skin pixels of the person: Lab within :data:`SKIN_D2` of the colour of the cheeks.

    The model is fitted on the cheeks and nose (between the eyes and the mouth, inside the ears), so eyes,
    brows, lips and hair weigh little; variances are floored (L 7, a and b 3.5) so that a grey photo still
    tells a bright face from a dark coat by lightness.
    """
    import cv2

    h, w = person.shape
    eyes, mouth, em, ears = _face_geometry(body)
    down = _unit(mouth - eyes)
    centre = eyes + down * 0.55 * em
    seed = np.zeros((h, w), np.uint8)
    angle = float(np.degrees(np.arctan2(down[1], down[0]))) - 90.0
    cv2.ellipse(seed, (round(float(centre[0])), round(float(centre[1]))),
                (max(2, round(0.28 * ears)), max(2, round(0.45 * em))), angle, 0, 360, 1, -1)
    sel = (seed > 0) & person
    model = _colour_model(lab[sel], (7.0, 3.5, 3.5))
    if model is None:
        return np.zeros((h, w), bool)
    skin = (_d2(lab, model) < SKIN_D2) & person
    skin = cv2.morphologyEx(skin.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return skin.astype(bool)


def hair_mask(lab: np.ndarray, body: BodyAnalysis, person: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Hair pixels: the colour of the top of the head, inside a head-sized ellipse from the crown to the chin.

    Hair below the chin is not looked for (the clothing zones start at the mouth, and clothes of the hair's
    colour would be taken for it); long hair over the chest stays in the region.
    """
    import cv2

    h, w = person.shape
    eyes, mouth, em, ears = _face_geometry(body)
    up = -_unit(mouth - eyes)
    side = np.array([-up[1], up[0]], dtype=np.float32)
    head_w = max(ears, 2.2 * em)
    top = eyes + up * 1.6 * em
    poly = np.array([top - side * 0.6 * head_w, top + side * 0.6 * head_w,
                     top + side * 0.6 * head_w + up * 2.5 * em, top - side * 0.6 * head_w + up * 2.5 * em])
    crown = polygon_mask(poly, h, w) & person & ~skin
    model = _colour_model(lab[crown], (6.0, 3.0, 3.0))
    if model is None:
        return np.zeros((h, w), bool)
    head = np.zeros((h, w), np.uint8)
    chin = mouth - up * 1.0 * em
    crown_pt = eyes + up * 2.6 * em
    centre = (chin + crown_pt) / 2
    angle = float(np.degrees(np.arctan2(side[1], side[0])))
    cv2.ellipse(head, (round(float(centre[0])), round(float(centre[1]))),
                (max(2, round(1.1 * head_w)), max(2, round(float(np.linalg.norm(crown_pt - chin)) / 2))),
                angle, 0, 360, 1, -1)
    return (_d2(lab, model) < HAIR_D2) & person & ~skin & (head > 0)


def _skin_parts(skin: np.ndarray, body: BodyAnalysis, trunk: np.ndarray) -> np.ndarray:
    """Keep the skin-coloured patches that are skin: those touching the face or hands, or lying off the trunk.

    A beige strap or patch in the middle of a suit has the colour of skin but is not connected to any.
    """
    import cv2

    protect = protected_mask(body).astype(np.uint8)
    k = max(3, round(0.02 * max(body.width, body.height))) | 1
    near = cv2.dilate(protect, np.ones((k, k), np.uint8)) > 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(skin.astype(np.uint8), connectivity=8)
    if n <= 1:
        return skin
    keep = np.zeros(n, bool)
    keep[np.unique(labels[near & skin])] = True
    on_trunk = np.bincount(labels[trunk].ravel(), minlength=n)
    keep |= on_trunk < 0.5 * stats[:, cv2.CC_STAT_AREA]
    keep[0] = False
    return keep[labels]


def _capsule(a: np.ndarray, b: np.ndarray, radius: float, h: int, w: int) -> np.ndarray:
    import cv2

    m = np.zeros((h, w), np.uint8)
    pa = (round(float(a[0]) * 4), round(float(a[1]) * 4))
    pb = (round(float(b[0]) * 4), round(float(b[1]) * 4))
    cv2.line(m, pa, pb, 1, max(1, round(2 * radius)), lineType=cv2.LINE_8, shift=2)
    return m.astype(bool)


def trunk_mask(body: BodyAnalysis) -> np.ndarray:
    """Return the trunk ``(H, W)`` bool: shoulders (widened, raised to the neck) to hips, then straight down."""
    h, w = body.height, body.width
    sl, sr = body.pair(L_SHOULDER, R_SHOULDER)
    hl, hr = body.pair(L_HIP, R_HIP)
    s_width = max(float(np.linalg.norm(sr - sl)), 8.0)
    d = _unit((hl + hr) / 2 - (sl + sr) / 2)
    u = np.array([d[1], -d[0]], dtype=np.float32)
    if float(np.dot(sr - sl, u)) < 0:
        u = -u
    x = np.array([1.0, 0.0], np.float32)
    down = np.array([0.0, 4.0 * max(w, h)], np.float32)
    # a face turned sideways shows the back on the other side: widen the trunk there by as much
    turn = float(np.dot(body.points[NOSE] - (sl + sr) / 2, u)) / s_width
    left, right = 0.2 + max(0.0, turn) * 1.0, 0.2 + max(0.0, -turn) * 1.0
    raise_ = d * 0.5 * s_width
    poly = [sl - u * left * s_width - raise_, sr + u * right * s_width - raise_,
            hr + u * (right + 0.1) * s_width, hr + x * (right + 0.25) * s_width + down,
            hl - x * (left + 0.25) * s_width + down, hl - u * (left + 0.1) * s_width]
    return polygon_mask(np.array(poly, np.float32), h, w)


def _zones(body: BodyAnalysis, cut: Cut) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Return the zone a garment of ``cut`` covers, the arm and leg zones by name, and where it may grow.

    It may grow into clothing of the same fabric within its band, less the arms a sleeveless or
    short-sleeved cut leaves bare (hidden arms included).
    """
    h, w = body.height, body.width
    p, vis = body.points, body.visibility
    sl, sr = body.pair(L_SHOULDER, R_SHOULDER)
    hl, hr = body.pair(L_HIP, R_HIP)
    s_width = max(float(np.linalg.norm(sr - sl)), 8.0)
    sm, hm = (sl + sr) / 2, (hl + hr) / 2
    d = _unit(hm - sm)
    torso = float(np.linalg.norm(hm - sm))
    u = np.array([d[1], -d[0]], dtype=np.float32)  # across the body
    eyes, mouth, em, _ = _face_geometry(body)
    top_t = _top(body, sm, d, s_width)
    km = (p[L_KNEE] + p[R_KNEE]) / 2
    knee_t = float(np.dot(km - sm, d))
    ends = {"cropped": 0.62 * torso, "hip": 1.08 * torso, "thigh": max(1.5 * torso, (torso + knee_t) / 2),
            "knee": max(1.9 * torso, knee_t + 0.05 * torso), "legs": torso}
    reach = 4.0 * max(w, h)
    parts: dict[str, np.ndarray] = {}

    def shown(i: int) -> bool:
        return bool(vis[i] >= ARM_VISIBLE or not body.in_frame(i, margin=0.0))

    for name, a, b, c, ra, rb in (("left", L_SHOULDER, L_ELBOW, L_WRIST, 0.27, 0.24),
                                  ("right", R_SHOULDER, R_ELBOW, R_WRIST, 0.27, 0.24)):
        upper = _capsule(p[a], p[b], ra * s_width, h, w) if shown(b) else np.zeros((h, w), bool)
        fore = (_capsule(p[b], p[c], rb * s_width, h, w) if shown(b) and shown(c)
                else np.zeros((h, w), bool))
        parts[f"{name} upper arm"], parts[f"{name} forearm"] = upper, fore
    legs = np.zeros((h, w), bool)
    for hip, knee, ankle in ((L_HIP, L_KNEE, L_ANKLE), (R_HIP, R_KNEE, R_ANKLE)):
        legs |= _capsule(p[hip], p[knee], 0.3 * s_width, h, w) | _capsule(p[knee], p[ankle], 0.22 * s_width, h, w)
    parts["legs"] = legs
    if cut.length == "legs":
        t0, t1 = torso - 0.08 * torso, reach
        band = polygon_mask(np.array([sm + d * t0 - u * reach, sm + d * t0 + u * reach, sm + d * t1 + u * reach,
                                      sm + d * t1 - u * reach], np.float32), h, w)
        zone = band & (legs | _capsule(hl, hr, 0.35 * s_width, h, w))
        return zone, parts, zone
    t1 = ends[cut.length]
    band = polygon_mask(np.array([sm + d * top_t - u * reach, sm + d * top_t + u * reach, sm + d * t1 + u * reach,
                                  sm + d * t1 - u * reach], np.float32), h, w)
    trunk = trunk_mask(body)
    arms = np.zeros((h, w), bool)
    for name in ("left", "right"):
        arms |= parts[f"{name} upper arm"] | parts[f"{name} forearm"]
    if cut.sleeves == "long":
        zone = band & (trunk | arms) | (arms & _below(sm, d, top_t, h, w))
        return zone, parts, zone | band
    bare = np.zeros((h, w), bool)
    short = np.zeros((h, w), bool)
    for a, b, c in ((L_SHOULDER, L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW, R_WRIST)):
        upper = _capsule(p[a], p[b], 0.27 * s_width, h, w)
        bare |= upper | _capsule(p[b], p[c], 0.24 * s_width, h, w)
        if cut.sleeves == "short":
            short |= _capsule(p[a], p[a] + (p[b] - p[a]) * 0.55, 0.27 * s_width, h, w) & upper
    bare &= ~trunk & ~short
    return band & (trunk | short), parts, band & ~bare


def _axis(body: BodyAnalysis) -> tuple[np.ndarray, np.ndarray, float]:
    """Return the shoulders' midpoint, the unit vector down the body and where (along it) clothing starts."""
    sl, sr = body.pair(L_SHOULDER, R_SHOULDER)
    hl, hr = body.pair(L_HIP, R_HIP)
    sm = (sl + sr) / 2
    d = _unit((hl + hr) / 2 - sm)
    return sm, d, _top(body, sm, d, float(np.linalg.norm(sr - sl)))


def _top(body: BodyAnalysis, sm: np.ndarray, d: np.ndarray, s_width: float) -> float:
    """Return where clothing may start, along the body axis from the shoulders (pixels; negative is up).

    The mouth, or half a shoulder width above the shoulders when that is higher (a collar or a suit's neck
    ring); face, hair and skin are taken out separately.
    """
    eyes, mouth, em, _ = _face_geometry(body)
    return min(float(np.dot(mouth + _unit(mouth - eyes) * 0.3 * em - sm, d)), -0.5 * s_width)


def _below(sm: np.ndarray, d: np.ndarray, t: float, h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return ((xs - sm[0]) * d[0] + (ys - sm[1]) * d[1]) >= t


def _grow(region: np.ndarray, allowed: np.ndarray, lab: np.ndarray, s_width: float) -> np.ndarray:
    """Grow ``region`` into ``allowed`` pixels of the same fabric, up to 0.3 shoulder widths away.

    The zones from the landmarks are approximate (a baggy sleeve, an arm whose elbow is hidden behind
    something held); clothing of the region's own colour next to it is the same garment. Same fabric: chroma
    within 18 Lab units of the region's median and lightness within ``max(20, 3 spreads)`` of it.
    """
    import cv2

    if region.sum() < 100:
        return region
    vals = lab[region]
    med = np.median(vals, axis=0)
    q25, q75 = np.percentile(vals[:, 0], [25, 75])
    spread = max(float(q75 - q25) / 1.349, 1.0)
    same = (np.hypot(lab[..., 1] - med[1], lab[..., 2] - med[2]) < 18.0) & (
        np.abs(lab[..., 0] - med[0]) < max(20.0, 3.0 * spread))
    ok = (allowed & same).astype(np.uint8)
    grown = region.astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(max(1, round(0.3 * s_width))):
        nxt = cv2.dilate(grown, kernel) & (ok | grown)
        if np.array_equal(nxt, grown):
            break
        grown = nxt
    return grown.astype(bool)


def find_clothing(rgb: np.ndarray, body: BodyAnalysis, cut: Cut) -> ClothingRegion:
    """Return where a garment of ``cut`` goes in the photo ``rgb`` (``(H, W, 3)`` uint8) of ``body``.

    The alpha is soft at the person mask's edge and feathered by a pixel or two at skin and hair edges;
    it is exactly 0 on the face and hands and outside the person.
    """
    import cv2

    h, w = body.height, body.width
    lab = _lab(rgb)
    person_p = body.person
    person = person_p > 0.5
    skin = _skin_parts(skin_mask(lab, body, person), body, trunk_mask(body))
    hair = hair_mask(lab, body, person, skin)
    protect = protected_mask(body)
    every, parts, every_grow = _zones(body, Cut("long", "knee"))
    below = trunk_mask(body) & _below(*_axis(body), h, w)
    every |= parts["legs"] | below
    keep = person & ~skin & ~hair & ~protect
    s_width = float(np.linalg.norm(body.points[L_SHOULDER] - body.points[R_SHOULDER]))
    clothing = _grow(keep & every, keep & (every_grow | every), lab, s_width)
    zone, parts, may_grow = _zones(body, cut)
    region = _grow(keep & zone, keep & may_grow, lab, s_width)
    region = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
    if n > 2:  # drop crumbs the colour models leave (a few pixels of background or hair)
        big = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= 0.01 * max(1, int(region.sum()))]
        region = np.isin(labels, big)
    soft = np.clip((person_p - 0.3) / 0.4, 0.0, 1.0).astype(np.float32)
    hard = cv2.GaussianBlur(region.astype(np.float32), (3, 3), 0)
    alpha = np.where(region | (hard > 0.34), np.minimum(hard, 1.0) * soft, 0.0).astype(np.float32)
    alpha[protect | skin | hair] = 0.0
    alpha[alpha < 0.03] = 0.0
    uncovered = _uncovered(cut, parts, person, skin)
    return ClothingRegion(alpha=alpha, clothing=clothing, skin=skin, hair=hair, cut=cut, uncovered=uncovered)


def _uncovered(cut: Cut, parts: dict[str, np.ndarray], person: np.ndarray, skin: np.ndarray) -> list[str]:
    """Return the body parts the garment covers that the photo shows bare (over 35% skin): forearms, legs."""
    out: list[str] = []
    needed: list[str] = []
    if cut.sleeves == "long":
        needed = ["left forearm", "right forearm"]
    for name in needed:
        zone = parts[name] & person
        if zone.sum() < 50:
            continue
        if float((zone & skin).sum()) / float(zone.sum()) > 0.35:
            out.append("forearms")
            break
    if cut.length == "legs" or cut.length == "knee":
        legs = parts["legs"] & person
        if legs.sum() >= 50 and float((legs & skin).sum()) / float(legs.sum()) > 0.35:
            out.append("legs")
    return out
