"""Namespaces and keys of the preference memory.

Every shopper's facts live under ``("preferences", <user id>)``. User ids arrive from outside (a CLI
flag, a request header, a LangGraph ``config``), so they are checked and normalised here before
they become a namespace label: an id must never be able to address another shopper's namespace,
a parent namespace, or a path on disk.
"""

from __future__ import annotations

import hashlib
import unicodedata

MEMORY_ROOT = "preferences"
"""First namespace label of every shopper's preference memory."""

MAX_USER_ID_LENGTH = 128
"""Longest accepted user id, in characters (after normalisation)."""

_ESCAPES = {"%": "%25", ".": "%2E", "*": "%2A"}
_PATH_SEPARATORS = ("/", "\\")


class InvalidUserIdError(ValueError):
    """A user id cannot be turned into a memory namespace."""


def normalise_user_id(user_id: str) -> str:
    r"""Return the canonical form of a user id, or raise :class:`InvalidUserIdError`.

    The id is NFC-normalised and stripped of surrounding whitespace. Unicode letters are kept.
    Rejected: non-strings, empty or whitespace-only ids, ids longer than
    ``MAX_USER_ID_LENGTH`` characters, path separators (``/``, ``\``), ``..``, and control or
    invisible formatting characters (Unicode categories ``C*``, e.g. NUL, newline, U+202E).
    """
    if not isinstance(user_id, str):
        raise InvalidUserIdError(f"user id must be a string, got {type(user_id).__name__}")
    normalised = unicodedata.normalize("NFC", user_id).strip()
    if not normalised:
        raise InvalidUserIdError("user id is empty or only whitespace; pass the shopper's id")
    if len(normalised) > MAX_USER_ID_LENGTH:
        raise InvalidUserIdError(
            f"user id is {len(normalised)} characters long; at most {MAX_USER_ID_LENGTH} are allowed"
        )
    for sep in _PATH_SEPARATORS:
        if sep in normalised:
            raise InvalidUserIdError(f"user id {normalised!r} contains the path separator {sep!r}")
    if ".." in normalised:
        raise InvalidUserIdError(f"user id {normalised!r} contains '..'")
    for ch in normalised:
        if unicodedata.category(ch).startswith("C"):
            raise InvalidUserIdError(
                f"user id {normalised!r} contains the control or invisible character U+{ord(ch):04X}"
            )
    return normalised


def user_label(user_id: str) -> str:
    """Return the namespace label for a user id (normalised, then ``%``-escaped).

    Namespace labels cannot contain ``.`` and ``*`` is a wildcard when namespaces are listed,
    so ``%``, ``.`` and ``*`` are percent-escaped. The escaping is reversible, so two different
    ids never share a label (``"a.b"`` becomes ``"a%2Eb"`` and ``"a%2Eb"`` becomes ``"a%252Eb"``).
    """
    return "".join(_ESCAPES.get(ch, ch) for ch in normalise_user_id(user_id))


def user_namespace(user_id: str) -> tuple[str, str]:
    """Return ``("preferences", label)``, the memory namespace of one shopper.

    Raises:
        InvalidUserIdError: (a ``ValueError``) when the id is empty, too long, or contains path
            separators, ``..`` or control characters; the message says which.
    """
    return (MEMORY_ROOT, user_label(user_id))


def fact_key(text: str) -> str:
    """Return a stable key for a preference fact, so remembering it twice updates one item."""
    canonical = " ".join(unicodedata.normalize("NFC", text).casefold().split())
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]
