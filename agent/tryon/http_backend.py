"""Try-on through an external HTTP service.

JSON contract (``POST {FASHIONM3_TRYON_URL}``, ``Content-Type: application/json``)::

    request:  {"person_png_base64": str,   # the shopper's photo, PNG, base64
               "garment_png_base64": str,  # the garment on a plain background, PNG, base64
               "category": str,            # canonical category (top, shirt, pullover, coat, dress, trousers)
               "color": str, "description": str}
    200:      {"image_png_base64": str,    # result, PNG, base64, same size as the person photo
               "mask_png_base64": str?}    # optional: changed pixels (non-zero = changed)
    422:      {"error": str}               # an input the shopper can fix ("no person found"); shown to them

Any other status, a malformed body, or a result of the wrong size is a service failure. Timeouts:
``FASHIONM3_TRYON_TIMEOUT`` seconds (default 60) for the whole call, 5 s to connect.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from agent.context import Context
from agent.tryon.base import TryOnInputError, TryOnRequest, TryOnResult, check_category, check_person_photo

ENV_URL = "FASHIONM3_TRYON_URL"
ENV_TIMEOUT = "FASHIONM3_TRYON_TIMEOUT"


class TryOnServiceError(RuntimeError):
    """The try-on service failed (unreachable, timed out, or answered outside the contract)."""


def _png64(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _decode(data: Any, mode: str) -> np.ndarray:
    if not isinstance(data, str):
        raise TryOnServiceError("try-on service answered without a base64 PNG image")
    try:
        with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as im:
            return np.asarray(im.convert(mode))
    except (ValueError, OSError) as exc:
        raise TryOnServiceError("try-on service answered with an unreadable image") from exc


class HttpTryOn:
    """Client of an external try-on service speaking the contract above."""

    name = "http"

    def __init__(self, url: str, timeout: float = 60.0, client: Any = None) -> None:
        self.url = url
        self.timeout = timeout
        self._client = client

    @classmethod
    def from_settings(cls, settings: Context) -> HttpTryOn:
        """Build from ``settings.tryon_url`` and ``settings.tryon_timeout``.

        Raises:
            ValueError: if no URL is set.
        """
        if not settings.tryon_url:
            raise ValueError(f"the http try-on backend needs {ENV_URL} (the service's endpoint)")
        return cls(settings.tryon_url, settings.tryon_timeout if settings.tryon_timeout > 0 else 60.0)

    def try_on(self, request: TryOnRequest) -> TryOnResult:
        """Send the photo and garment to the service and return its picture.

        Raises:
            TryOnInputError: when the service rejects the input (HTTP 422) or locally checked input is bad.
            TryOnServiceError: when the service is unreachable, times out or breaks the contract.
        """
        import httpx

        check_category(request.category)
        check_person_photo(request.person)
        body = {"person_png_base64": _png64(request.person), "garment_png_base64": _png64(request.garment),
                "category": request.category, "color": request.color, "description": request.description}
        timeout = httpx.Timeout(self.timeout, connect=min(5.0, self.timeout))
        try:
            client = self._client or httpx.Client(timeout=timeout)
            try:
                resp = client.post(self.url, json=body, timeout=timeout)
            finally:
                if self._client is None:
                    client.close()
        except httpx.TimeoutException as exc:
            raise TryOnServiceError(f"try-on service at {self.url} timed out after {self.timeout:.0f} s") from exc
        except httpx.HTTPError as exc:
            raise TryOnServiceError(f"try-on service at {self.url} is unreachable: {exc}") from exc
        try:
            payload = resp.json()
        except ValueError as exc:
            raise TryOnServiceError(f"try-on service answered {resp.status_code} without JSON") from exc
        if resp.status_code == 422:
            raise TryOnInputError(str(payload.get("error") or "The try-on service could not use this photo."))
        if resp.status_code != 200:
            raise TryOnServiceError(f"try-on service answered {resp.status_code}: {payload}")
        image = _decode(payload.get("image_png_base64"), "RGB")
        if image.shape != request.person.shape:
            raise TryOnServiceError(f"try-on service returned a {image.shape} image for a {request.person.shape} photo")
        if payload.get("mask_png_base64"):
            mask = _decode(payload["mask_png_base64"], "L") > 0
        else:
            mask = np.any(image != request.person, axis=-1)
        return TryOnResult(image=image, mask=mask, backend=self.name, data={"url": self.url})
