"""What every planner backend is: a named object that turns a :class:`PlannerInput` into a :class:`Plan`."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from agent.plan import Plan, PlannerInput

__all__ = ["PlanError", "Planner"]


class PlanError(ValueError):
    """A plan that cannot be run as written; the message says what was wrong (it is sent back to the model).

    A check that refuses one argument value names it: ``tool``, ``argument`` and ``value`` (else None),
    so a model backend can propose the plan without it before paying for a re-decode.
    """

    def __init__(self, message: str, *, tool: str | None = None, argument: str | None = None,
                 value: Any = None) -> None:
        super().__init__(message)
        self.tool, self.argument, self.value = tool, argument, value


@runtime_checkable
class Planner(Protocol):
    """A planner backend (rules, scripted, a fine-tuned model, an OpenAI-compatible server).

    ``plan`` is called once per step of a turn; it must only call tools named in ``view.tools``
    and must not mutate ``view``.
    """

    name: str

    def plan(self, view: PlannerInput) -> Plan:
        """Return the plan for this step of the turn."""
        ...
