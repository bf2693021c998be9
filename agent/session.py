"""A conversation with the compiled graph: one object the CLI, evals and benchmarks share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import HumanMessage

from agent.context import Context


def new_thread_id() -> str:
    """Return a fresh, readable thread id."""
    return "t-" + uuid.uuid4().hex[:10]


@dataclass
class Session:
    """Send turns to a compiled graph on one thread, with one user's settings."""

    graph: Any
    settings: Context
    thread_id: str = field(default_factory=new_thread_id)

    def turn(self, text: str, attachments: list[Any] | None = None) -> dict[str, Any]:
        """Run one turn and return its response payload (``text``, ``items``, ``errors``, ...)."""
        if not text.strip() and not attachments:
            raise ValueError("Say something or attach an image: the message is empty.")
        payload: dict[str, Any] = {"messages": [HumanMessage(content=text)], "attachments": list(attachments or [])}
        out = self.graph.invoke(payload, config={"configurable": {"thread_id": self.thread_id}},
                                context=self.settings)
        return dict(out.get("response") or {})

    def state(self) -> dict[str, Any]:
        """Return the thread's current state values."""
        snap = self.graph.get_state({"configurable": {"thread_id": self.thread_id}})
        return dict(snap.values)
