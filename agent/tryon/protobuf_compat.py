"""Run mediapipe 0.10.14 under protobuf 5 and 6.

mediapipe 0.10.14 (the last release that ships its pose and segmentation models in the wheel)
declares ``protobuf<5``, while ``mcp`` and ``langgraph-api`` need OpenTelemetry 1.44+ and with it
protobuf 6; ``make setup`` installs mediapipe with ``--no-deps`` (see the Makefile). The only
protobuf API mediapipe's Python layer uses that protobuf 5 removed is ``GetPrototype`` (on
``SymbolDatabase`` and ``MessageFactory``), replaced by ``message_factory.GetMessageClass``.
:func:`ensure_mediapipe_protobuf` maps the old name onto the new function before mediapipe runs;
under protobuf 4 it changes nothing. ``tests/test_environment.py`` runs face detection, pose and
segmentation under the installed protobuf.
"""

from __future__ import annotations

from typing import Any


def ensure_mediapipe_protobuf() -> bool:
    """Give protobuf 5+ the ``GetPrototype`` mediapipe 0.10.14 calls; return whether it had to be added."""
    from google.protobuf import message_factory, symbol_database

    if hasattr(symbol_database.SymbolDatabase, "GetPrototype"):
        return False

    def get_prototype(self: Any, descriptor: Any) -> Any:
        return message_factory.GetMessageClass(descriptor)

    symbol_database.SymbolDatabase.GetPrototype = get_prototype  # type: ignore[attr-defined]
    if not hasattr(message_factory.MessageFactory, "GetPrototype"):
        message_factory.MessageFactory.GetPrototype = get_prototype  # type: ignore[attr-defined]
    return True
