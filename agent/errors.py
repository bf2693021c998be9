"""Errors shared by the ``fashionm3`` command line and the command groups packages add to it."""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """A problem the user can fix; ``fashionm3`` prints it as one line without a traceback (exit code 2)."""
