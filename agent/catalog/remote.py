"""Fetching product images named by URL in a shop's feed (untrusted input).

Each URL is fetched once per import with :mod:`httpx`: a connect and read timeout plus a whole-download
deadline, a byte limit (checked against ``Content-Length`` and while streaming), an ``image/*``
content-type check, a pixel limit when decoding, and at most ``concurrency`` downloads at a time. The
decoded image is stored once as ``images/remote/<sha256 of the bytes>.png`` and the URL's digest is
remembered in ``images/remote/urls.json``, so a second import does not download it again.

The SSRF guard: the host is resolved and every address must be a public one (not private, loopback,
link-local, multicast, reserved or unspecified); redirects are followed by hand (at most 3), each hop
checked the same way. ``allow_private`` (``FASHIONM3_IMAGE_FETCH_ALLOW_PRIVATE``: ``1`` for any address, or
networks such as ``10.1.0.0/16``) lifts it, for a shop whose images are on its own network (and for tests on
loopback). The connection goes to the address that was checked (the URL's host is replaced by it; the
``Host`` header and the TLS server name stay the shop's host, so virtual hosts and certificates work), so a
DNS server that answers differently a moment later (rebinding) cannot point the download elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx


class FetchError(Exception):
    """An image URL that could not be had (the message says why)."""


@dataclass(frozen=True)
class FetchLimits:
    """Limits on fetching images from URLs."""

    timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    concurrency: int = 8
    allow_private: str = ""

    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
        """Return the non-public networks allowed (None: all of them)."""
        spec = self.allow_private.strip().lower()
        if spec in ("1", "all", "true", "yes"):
            return None
        parts = [p.strip() for p in spec.split(",")]
        return [ipaddress.ip_network(p, strict=False) for p in parts if p and p != "0"]


def is_url(value: str) -> bool:
    """Whether an image reference is an http(s) URL."""
    return value.strip().lower().startswith(("http://", "https://"))


def check_public(url: str, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None
                 ) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Return the address to connect to for ``url``: the first its host resolves to (see :func:`public_addresses`).

    Raises:
        FetchError: unless every address the host resolves to is public (or in ``allowed``).
    """
    return public_addresses(url, allowed)[0]


def public_addresses(url: str, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None
                     ) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Return every address ``url``'s host resolves to, in the resolver's order, without repeats.

    The download tries them in turn when one cannot be connected to (a host with an IPv6 address the
    machine cannot route, one of a CDN's addresses down), as a browser does.

    Raises:
        FetchError: unless every address the host resolves to is public (or in ``allowed``): one internal
            address among public ones refuses the URL, so no fallback can reach it.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("not an http(s) URL")
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"host {host} not found ({exc.strerror or exc})") from exc
    addrs = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for addr in addrs:
        if (not addr.is_global or addr.is_multicast) and not any(addr in net for net in allowed or []):
            kind = ("loopback" if addr.is_loopback else "link-local" if addr.is_link_local
                    else "private" if addr.is_private else "non-public")
            raise FetchError(f"refused: {host} is a {kind} address ({addr}); a shop's feed may not point "
                             "the importer at internal addresses (FASHIONM3_IMAGE_FETCH_ALLOW_PRIVATE=1 allows it)")
    if not addrs:
        raise FetchError(f"host {host} has no address")
    return list(dict.fromkeys(addrs))


def pinned_request(client: httpx.Client, url: str, addr: ipaddress.IPv4Address | ipaddress.IPv6Address
                   ) -> httpx.Request:
    """Return a GET of ``url`` sent to ``addr`` (the checked address), with the URL's host as ``Host`` and SNI."""
    parts = urlsplit(url)
    host = httpx.URL(url).raw_host.decode("ascii")  # IDNA-encoded ("xn--bcher-kva.de" for "bücher.de")
    netloc = f"[{addr}]" if addr.version == 6 else str(addr)
    if parts.port:
        netloc += f":{parts.port}"
    if "@" in parts.netloc:  # user:password@ stays (httpx sends it as basic auth)
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    target = parts._replace(netloc=netloc).geturl()
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    host_header = f"{host}:{parts.port}" if parts.port else host
    return client.build_request("GET", target, headers={"Host": host_header}, extensions=extensions)


class ImageFetcher:
    """Fetch image URLs into a content-addressed folder, with limits, a bound on concurrency and a cache."""

    def __init__(self, folder: Path, limits: FetchLimits, rel_prefix: str = "images/remote") -> None:
        self.folder = folder
        self.limits = limits
        self.rel_prefix = rel_prefix
        self._index_path = folder / "urls.json"
        self._lock = threading.Lock()
        try:
            self._index: dict[str, str] = json.loads(self._index_path.read_text())
        except (OSError, ValueError):
            self._index = {}

    def fetch_all(self, urls: Iterable[str], progress: Callable[[int], None] | None = None
                  ) -> dict[str, str | FetchError]:
        """Return ``{url: relative path of the stored PNG, or the FetchError}`` for each distinct URL."""
        todo = list(dict.fromkeys(urls))
        out: dict[str, str | FetchError] = {}
        if not todo:
            return out
        self.folder.mkdir(parents=True, exist_ok=True)
        timeout = httpx.Timeout(self.limits.timeout, connect=min(5.0, self.limits.timeout))
        with contextlib.ExitStack() as stack:
            clients: dict[str, httpx.Client] = {}

            def client_for(url: str) -> httpx.Client:
                # one client (and connection pool) per host name: connections go to a pinned address, and two
                # hosts on one address must not share a connection set up (TLS, virtual host) for the other
                host = (urlsplit(url).hostname or "").lower()
                with self._lock:
                    if host not in clients:
                        clients[host] = stack.enter_context(httpx.Client(
                            timeout=timeout, follow_redirects=False, trust_env=False,
                            headers={"User-Agent": "fashionm3-catalog-import/1"}))
                    return clients[host]

            def one(url: str) -> tuple[str, str | FetchError]:
                try:
                    return url, self._fetch(client_for, url)
                except FetchError as exc:
                    return url, exc
                except Exception as exc:  # noqa: BLE001 - one bad URL must not stop the import
                    return url, FetchError(f"could not fetch ({type(exc).__name__}: {exc})")
                finally:
                    if progress:
                        progress(1)

            with ThreadPoolExecutor(max_workers=max(1, self.limits.concurrency)) as pool:
                for url, res in pool.map(one, todo):
                    out[url] = res
        with self._lock:
            tmp = self._index_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._index, indent=0, sort_keys=True))
            tmp.replace(self._index_path)
        return out

    def _fetch(self, client_for: Callable[[str], httpx.Client], url: str) -> str:
        from agent.media import ImageInputError, decode_image

        with self._lock:
            digest = self._index.get(url)
        if digest and (self.folder / f"{digest}.png").is_file():
            return f"{self.rel_prefix}/{digest}.png"
        data = self._download(client_for, url)
        try:
            img = decode_image(data, url.rsplit("/", 1)[-1] or "image", self.limits.max_pixels)
        except ImageInputError as exc:
            raise FetchError(str(exc)) from exc
        digest = hashlib.sha256(data).hexdigest()
        dest = self.folder / f"{digest}.png"
        if not dest.is_file():
            tmp = dest.with_name(f".{digest}.{threading.get_ident()}.png")
            img.save(tmp, format="PNG")
            tmp.replace(dest)
        with self._lock:
            self._index[url] = digest
        return f"{self.rel_prefix}/{digest}.png"

    def _download(self, client_for: Callable[[str], httpx.Client], url: str) -> bytes:
        limits = self.limits
        deadline = time.monotonic() + limits.timeout
        for _hop in range(4):
            client = client_for(url)
            allowed = limits.allowed_networks()
            addrs = public_addresses(url, allowed) if allowed is not None else [None]
            try:
                resp = None
                for i, addr in enumerate(addrs):
                    request = (pinned_request(client, url, addr) if addr is not None
                               else client.build_request("GET", url))
                    try:
                        resp = client.send(request, stream=True)
                        break
                    except (httpx.ConnectError, httpx.ConnectTimeout):
                        if i == len(addrs) - 1 or time.monotonic() > deadline:
                            raise  # every address tried: the error of the last one
                assert resp is not None
                with contextlib.closing(resp):
                    if resp.is_redirect:
                        location = resp.headers.get("location", "")
                        if not location:
                            raise FetchError(f"HTTP {resp.status_code} without a Location")
                        url = urljoin(url, location)
                        continue
                    if resp.status_code != 200:
                        raise FetchError(f"HTTP {resp.status_code}")
                    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                    if not ctype.startswith("image/"):
                        raise FetchError(f"not an image (content-type {ctype or 'missing'})")
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                        raise FetchError(f"{int(declared) / 1e6:.1f} MB, over the "
                                         f"{limits.max_bytes / 1e6:.0f} MB limit")
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in resp.iter_bytes(65536):
                        size += len(chunk)
                        if size > limits.max_bytes:
                            raise FetchError(f"over the {limits.max_bytes / 1e6:.0f} MB limit")
                        if time.monotonic() > deadline:
                            raise FetchError(f"timed out after {limits.timeout:g} s")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.TimeoutException as exc:
                raise FetchError(f"timed out after {limits.timeout:g} s") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"could not fetch ({type(exc).__name__}: {exc})") from exc
        raise FetchError("too many redirects")
