"""The fine-tuned model alone (``smol-alone``): its own plans, checked only for validity, with no rules behind it.

For measuring what the model carries by itself beside the whole pipeline (``smol``): no grounding or
completion from the rules reading, no repair decode, no tool router, and when its plan is not valid
(unreadable, a tool not offered, an item never shown, arguments its tool refuses) the step gets an honest
"I couldn't plan that" instead of the rules planner's plan.
"""

from __future__ import annotations

from typing import Any

from agent.plan import Plan, PlannerInput
from agent.planners.smol.planner import SmolPlanner

__all__ = ["DeclinePlanner", "model_alone"]

#: What the shopper reads when the model alone has no valid plan.
DECLINED = "Sorry, I couldn't work out what to do with that. Could you put it another way?"


class DeclinePlanner:
    """A fallback that plans nothing: a clarifying reply (so a refused model plan is counted as a miss)."""

    name = "declined"

    def plan(self, view: PlannerInput) -> Plan:
        """Return a call-less ``clarify`` plan asking the shopper to rephrase.

        A continuation step (tool results already in ``view``, which the model is not asked to plan) is
        closed the way the rules planner closes it: no new decision is made there.
        """
        if view.step > 0 and view.results:
            from agent.planners.rules import RulesPlanner

            return RulesPlanner().plan(view)
        return Plan(intent="clarify", reply=DECLINED, planner=self.name)


def model_alone(settings: Any = None, **kw: Any) -> SmolPlanner:
    """Return the fine-tuned planner without grounding, completion, repair or a rules fallback."""
    kw.setdefault("grounding", False)
    kw.setdefault("repair", False)
    return SmolPlanner(settings=settings, fallback=DeclinePlanner(), name="smol-alone", **kw)
