"""Find the shopper's body in a photo: pose landmarks, a person mask and a face count (mediapipe 0.10.14).

Only models shipped inside the mediapipe wheel are used (pose with ``model_complexity=1``, selfie
segmentation ``model_selection=0``, full-range face detection), so nothing is downloaded. Analysis
runs on a copy scaled to at most :data:`WORK_SIDE` pixels; coordinates and the mask are returned at
the photo's full size.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.tryon.base import TryOnInputError

WORK_SIDE = 640
VISIBLE = 0.5

NOSE, L_EYE, R_EYE, L_EAR, R_EAR, MOUTH_L, MOUTH_R = 0, 2, 5, 7, 8, 9, 10
L_SHOULDER, R_SHOULDER = 11, 12
L_ELBOW, R_ELBOW = 13, 14
L_WRIST, R_WRIST = 15, 16
L_HAND, R_HAND = (15, 17, 19, 21), (16, 18, 20, 22)
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 23, 24, 25, 26, 27, 28


@dataclass
class BodyAnalysis:
    """Where the body is in a photo.

    Attributes:
        width: Photo width in pixels.
        height: Photo height in pixels.
        points: ``(33, 2)`` landmark positions in pixels (mediapipe order; may lie outside the frame).
        visibility: ``(33,)`` landmark visibility scores in ``[0, 1]``.
        person: ``(H, W)`` float32 person-mask probability.
        faces: Number of faces found.
    """

    width: int
    height: int
    points: np.ndarray
    visibility: np.ndarray
    person: np.ndarray
    faces: int

    def in_frame(self, i: int, margin: float = 0.02) -> bool:
        """Whether landmark ``i`` lies inside the photo (with a small margin)."""
        x, y = self.points[i]
        mx, my = margin * self.width, margin * self.height
        return bool(-mx <= x <= self.width + mx and -my <= y <= self.height + my)

    def visible(self, i: int) -> bool:
        """Whether landmark ``i`` is inside the photo and confidently seen."""
        return self.in_frame(i) and float(self.visibility[i]) >= VISIBLE

    def pair(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Return landmarks ``a`` and ``b`` ordered left-to-right in the image."""
        pa, pb = self.points[a], self.points[b]
        return (pa, pb) if pa[0] <= pb[0] else (pb, pa)


#: Photos whose detections :class:`BodyAnalyzer` keeps (ingest reads a person photo's role, try-on its body).
DETECTIONS_KEPT = 8


class BodyAnalyzer:
    """Run mediapipe pose, selfie segmentation and face detection (models loaded once, calls serialised).

    The detections of the last :data:`DETECTIONS_KEPT` photos are kept by pixel content, so a person
    photo analysed at ingest (its role) is not analysed again by the try-on that uses it.
    ``detections`` counts the photos actually run through the models.
    """

    def __init__(self) -> None:
        import mediapipe as mp

        from agent.tryon.protobuf_compat import ensure_mediapipe_protobuf

        ensure_mediapipe_protobuf()

        self._pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                            enable_segmentation=False, min_detection_confidence=0.5)
        self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        self._faces = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.6)
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[tuple[int, ...], str], tuple[np.ndarray, list[Any], Any, Any]] = OrderedDict()
        self.detections = 0

    def analyze(self, rgb: np.ndarray) -> BodyAnalysis:
        """Return the body of the one person in ``rgb``.

        Raises:
            TryOnInputError: if no person, or more than one person, is in the photo.
        """
        import cv2

        h, w = rgb.shape[:2]
        small, faces, pose, seg = self._detect(rgb)
        if len(faces) > 1:
            raise TryOnInputError(f"I can see {len(faces)} people in this photo. Which one is you? Crop the photo "
                                  "to just you and attach it again.")
        if pose is None:
            if self._sideways(small):
                raise TryOnInputError(SIDEWAYS)
            raise TryOnInputError(
                "I couldn't find a person in this photo. Attach a photo of yourself, facing the camera, "
                "with your upper body (or your whole body, for trousers and dresses) in the frame."
            )
        lm = pose.landmark
        sh = small.shape
        if not upright(np.array([[p.x * sh[1], p.y * sh[0]] for p in lm], dtype=np.float32)):
            raise TryOnInputError(SIDEWAYS)
        bodies = max(len(faces), count_bodies(np.asarray(seg, dtype=np.float32), lm))
        if bodies > 1:
            raise TryOnInputError(
                f"I can see {bodies} people in this photo. Which one is you? Crop the photo to just you "
                "and attach it again."
            )
        points = np.array([[p.x * w, p.y * h] for p in lm], dtype=np.float32)
        visibility = np.array([p.visibility for p in lm], dtype=np.float32)
        person = cv2.resize(np.asarray(seg, dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        return BodyAnalysis(width=w, height=h, points=points, visibility=visibility,
                            person=np.clip(person, 0.0, 1.0), faces=len(faces))


    def _sideways(self, small: np.ndarray) -> bool:
        """Whether a person is found once the photo is turned a quarter (a rotated photo without EXIF orientation)."""
        with self._lock:
            for k in (1, 3):
                if self._pose.process(np.ascontiguousarray(np.rot90(small, k))).pose_landmarks is not None:
                    return True
        return False

    def _detect(self, rgb: np.ndarray) -> tuple[np.ndarray, list[Any], Any, Any]:
        """Run the face, pose and segmentation models on the photo scaled to ``WORK_SIDE``.

        Returns the scaled RGB array, the face detections, the pose landmarks (None when no body) and
        the person mask.
        """
        import cv2

        key = (tuple(rgb.shape), hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).hexdigest())
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept
        h, w = rgb.shape[:2]
        scale = min(1.0, WORK_SIDE / max(h, w))
        small = rgb if scale == 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)),
                                                    interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        with self._lock:
            faces = list(self._faces.process(small).detections or [])
            pose: Any = self._pose.process(small).pose_landmarks
            seg = self._seg.process(small).segmentation_mask
            self.detections += 1
            self._kept[key] = (small, faces, pose, seg)
            while len(self._kept) > DETECTIONS_KEPT:
                self._kept.popitem(last=False)
        return small, faces, pose, seg

    def people(self, rgb: np.ndarray) -> tuple[int, bool]:
        """Return how many people a photo shows (0 for a garment photo) and whether the first stands upright."""
        small, faces, pose, seg = self._detect(rgb)
        if pose is None:
            return (len(faces), True) if faces else ((1, False) if self._sideways(small) else (0, True))
        lm = pose.landmark
        if max(lm[L_SHOULDER].visibility, lm[R_SHOULDER].visibility) < VISIBLE and not faces:
            return 0, True
        sh = small.shape
        points = np.array([[p.x * sh[1], p.y * sh[0]] for p in lm], dtype=np.float32)
        return max(1, len(faces), count_bodies(np.asarray(seg, dtype=np.float32), lm)), upright(points)


#: What a try-on says about a photo whose person is lying sideways or upside down.
SIDEWAYS = ("The person in this photo is lying sideways or upside down (the photo may be rotated). Attach an "
            "upright photo of yourself, standing, facing the camera.")


def upright(points: np.ndarray) -> bool:
    """Whether a body's hips are below its shoulders (the photo is the right way up), from pose landmarks."""
    shoulders = (points[L_SHOULDER] + points[R_SHOULDER]) / 2
    hips = (points[L_HIP] + points[R_HIP]) / 2
    dx, dy = hips - shoulders
    if abs(dx) < 1e-6 and abs(dy) < 1e-6:
        return True
    return bool(dy > 0 and abs(dx) < dy)


def count_bodies(mask: np.ndarray, landmarks: Any) -> int:
    """Count people: the one pose found, plus person-shaped regions of the segmentation mask beside it.

    Faces alone miss a second person whose head is out of frame; here a region of the person mask outside the
    detected body's columns counts when it is large (12% of the photo) and tall (40% of its height).
    """
    import cv2

    h, w = mask.shape[:2]
    xs = [p.x * w for p in landmarks if p.visibility > 0.3] or [0.0, float(w)]
    x0, x1 = max(0, int(min(xs) - 0.1 * w)), min(w, int(max(xs) + 0.1 * w))
    rest = (mask > 0.5).astype(np.uint8)
    rest[:, x0:x1] = 0
    _, _, stats, _ = cv2.connectedComponentsWithStats(rest)
    others = [s for s in stats[1:] if s[4] >= 0.12 * h * w and s[3] >= 0.4 * h]
    return 1 + len(others)


_ANALYZER: BodyAnalyzer | None = None
_ANALYZER_LOCK = threading.Lock()


def get_analyzer() -> BodyAnalyzer:
    """Return the process-wide analyser, loading the mediapipe models on first use."""
    global _ANALYZER
    with _ANALYZER_LOCK:
        if _ANALYZER is None:
            _ANALYZER = BodyAnalyzer()
        return _ANALYZER
