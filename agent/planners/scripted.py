"""A planner that replays scripted plans: for tests and evals, never for shoppers.

Like pydantic-ai's ``TestModel`` and the scripted models of openai-agents-python, it fails loudly when
the graph consults it more often than scripted, and :meth:`ScriptedPlanner.assert_consumed` fails
when some scripted steps were never used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.plan import Plan, PlannerInput

__all__ = ["ScriptedPlanner"]


class ScriptedPlanner:
    """Return the scripted plans in order and record every view it was given."""

    def __init__(self, steps: Sequence[Plan | dict[str, Any]], name: str = "scripted") -> None:
        """Validate the scripted steps (plans or dicts in the :class:`Plan` schema)."""
        self.name = name
        self.steps: list[Plan] = [s if isinstance(s, Plan) else Plan.model_validate(s) for s in steps]
        self.calls: list[PlannerInput] = []

    @property
    def remaining(self) -> int:
        """Return how many scripted steps have not been used yet."""
        return max(0, len(self.steps) - len(self.calls))

    def plan(self, view: PlannerInput) -> Plan:
        """Return the next scripted plan (a copy, so callers cannot alter the script).

        Raises:
            AssertionError: if every scripted step has already been used.
        """
        self.calls.append(view)
        n, m = len(self.calls), len(self.steps)
        if n > m:
            raise AssertionError(f"ScriptedPlanner called {n} times but only {m} steps scripted")
        return self.steps[n - 1].model_copy(deep=True)

    def assert_consumed(self) -> None:
        """Fail when some scripted steps were never used.

        Raises:
            AssertionError: naming the unused steps by position and intent.
        """
        if self.remaining:
            used = len(self.calls)
            unused = ", ".join(f"#{i + 1} ({p.intent})" for i, p in enumerate(self.steps) if i >= used)
            raise AssertionError(f"ScriptedPlanner used {used} of {len(self.steps)} scripted steps; "
                                 f"unused: {unused}")

    def reset(self) -> None:
        """Forget the recorded calls so the script can be replayed from the start."""
        self.calls.clear()
