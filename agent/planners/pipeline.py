"""One planner pipeline: a model proposes candidate plans, the checks accept one, else the fallback plans.

Compare pydantic-ai's ``FallbackModel``: :class:`FallbackPlanner` ``(primary, fallback, checks)`` asks the
primary (a :class:`Proposer`: the fine-tuned SmolLM2, an OpenAI-compatible server, a transformers model)
for candidates, best first: a greedy decode, then beams, or an answer repaired after the previous
candidate's error was sent back. Each candidate goes through the same ordered checks
(:mod:`agent.planners.checks`); the first that passes is the step's plan. If none passes, or the
primary declines the step (no candidate), the fallback planner (the rules planner) plans it.

A step the reading routes to a tool the primary was not trained on (its ``trained_tools``, when it has
them) is delegated too: the model's candidate for it is not used.

Every plan says where it came from: ``plan.planner`` is the primary's name or the fallback's, and
``plan.completed_by="rules"`` marks a model plan a check completed from the reader. ``outcomes``
counts ``model``, ``completed``, ``fallback`` and ``delegated`` steps, and :attr:`FallbackPlanner.last_trace`
keeps the model's own first candidate, so metrics report the model alone beside the pipeline.
Several threads may plan at once (the batched smol planner): the trace and error are per thread.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.plan import Plan, PlannerInput
from agent.planners.checks import GROUNDED_CHECKS, Check, PlanError, fill_reply, run_checks

__all__ = ["Candidate", "FallbackPlanner", "PlanTrace", "Proposer", "Refusal"]

log = logging.getLogger(__name__)


class Refusal(str):
    """Why a candidate was refused (the message sent back to the model), with the refused argument if one was.

    ``tool``, ``argument`` and ``value`` name the one argument value a check refused (see
    :class:`~agent.planners.base.PlanError`), else they are None.
    """

    tool: str | None
    argument: str | None
    value: Any

    def __new__(cls, message: str, error: PlanError | None = None) -> Refusal:
        """Return ``message`` carrying ``error``'s refused argument."""
        self = super().__new__(cls, message)
        self.tool = getattr(error, "tool", None)
        self.argument = getattr(error, "argument", None)
        self.value = getattr(error, "value", None)
        return self


@dataclass
class Candidate:
    """One plan a model proposed: its raw ``text``, the ``plan`` read from it (None if unreadable) and why not.

    ``round`` is 0 for the first answer (greedy), 1 for a repair (beams or an answer after feedback).
    """

    text: str
    plan: Plan | None = None
    error: str | None = None
    round: int = 0


class Proposer(Protocol):
    """A model backend: proposes candidate plans for a step, best first.

    ``propose`` is a generator; the pipeline sends each rejected candidate's error message back into it
    (``gen.send(error)``), so a chat model can repair with that feedback. Yielding nothing declines the
    step (the fallback plans it).
    """

    name: str

    @property
    def repairs_enabled(self) -> bool:
        """Whether a refused first candidate is followed by a second round (counted in ``stats["repairs"]``)."""
        ...

    def propose(self, view: PlannerInput) -> Generator[Candidate, str | None, None]:
        """Yield candidate plans for ``view``."""
        ...


@dataclass
class PlanTrace:
    """What happened in the last step: the model's first candidate, the accepted one, and the outcome."""

    outcome: str = ""
    first: Candidate | None = None
    accepted: Candidate | None = None
    errors: list[str] = field(default_factory=list)


class FallbackPlanner:
    """Plan with ``primary``'s candidates through ``checks``, else with ``fallback``.

    Args:
        primary: The model backend (a :class:`Proposer`).
        fallback: The planner used when no candidate passes (the rules planner by default).
        checks: The ordered plan checks (default :data:`~agent.planners.checks.GROUNDED_CHECKS`).
        reading: Compute the fallback's plan of each step up front, for checks that compare with it
            (grounding, completion) and for replies of call-less plans; otherwise it is computed only
            when the fallback answers.
        name: The planner's name (default: the primary's).
    """

    def __init__(self, primary: Proposer, fallback: Any = None, checks: Sequence[Check] = GROUNDED_CHECKS, *,
                 reading: bool = True, name: str | None = None) -> None:
        self.primary = primary
        self._fallback = fallback
        self.checks = tuple(checks)
        self.reading = reading
        self.name = name or primary.name
        #: ``calls`` (steps the model was asked to plan), ``repairs`` (steps whose first candidate was
        #: refused and that went to a second round), ``fallbacks`` (steps the fallback planned after the
        #: model's candidates were all refused).
        self.stats: dict[str, int] = {"calls": 0, "repairs": 0, "fallbacks": 0}
        self.outcomes: Counter[str] = Counter()
        self._local = threading.local()  # the last step of each thread (several turns may plan at once)

    @property
    def last_trace(self) -> PlanTrace:
        """Return what happened in this thread's last step (an empty trace before the first)."""
        trace: PlanTrace | None = getattr(self._local, "trace", None)
        return trace if trace is not None else PlanTrace()

    @last_trace.setter
    def last_trace(self, trace: PlanTrace) -> None:
        self._local.trace = trace

    @property
    def last_error(self) -> str | None:
        """Return why this thread's last step's candidates were all refused (None when one passed)."""
        error: str | None = getattr(self._local, "error", None)
        return error

    @last_error.setter
    def last_error(self, error: str | None) -> None:
        self._local.error = error

    @property
    def fallback(self) -> Any:
        """Return the planner used when the model's candidates all fail (the rules planner by default)."""
        if self._fallback is None:
            from agent.planners.rules import RulesPlanner

            self._fallback = RulesPlanner()
        return self._fallback

    def accept(self, plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
        """Return ``plan`` after the checks, with its reply and fact turns filled in (raises :class:`PlanError`).

        A call-less plan without a reply takes the fallback's wording of the step (its reading, read
        now if it was not read up front), so replies match whichever planner wrote the plan.
        """
        plan = run_checks(plan, view, self.checks, reading)
        facts = [f if f.source_turn else f.model_copy(update={"source_turn": view.turn}) for f in plan.facts]
        plan = plan.model_copy(update={"facts": facts, "planner": self.primary.name})
        if reading is None and not plan.calls and not plan.reply:
            reading = self.fallback.plan(view)
        return fill_reply(plan, view, reading)

    def _fallback_plan(self, view: PlannerInput, reading: Plan | None) -> Plan:
        plan = reading if reading is not None else self.fallback.plan(view)
        return plan.model_copy(update={"planner": plan.planner or getattr(self.fallback, "name", "fallback")})

    def plan(self, view: PlannerInput) -> Plan:
        """Return the first candidate that passes the checks, else the fallback's plan of the step."""
        trace = self.last_trace = PlanTrace()
        self.last_error = None
        proposals = self.primary.propose(view)
        self.stats["calls"] += 1  # counted before asking: a server that fails the step still made a call
        try:
            candidate: Candidate | None = next(proposals)
        except StopIteration:
            candidate = None
        if candidate is None:
            self.stats["calls"] -= 1
            trace.outcome = "delegated"
            self.outcomes["delegated"] += 1
            return self._fallback_plan(view, None)
        trace.first = candidate
        reading = self.fallback.plan(view) if self.reading else None
        trained = getattr(self.primary, "trained_tools", None)
        if reading is not None and trained is not None and any(c.name not in trained for c in reading.calls):
            # the reader routes the step to a tool the model was never trained on: the model cannot plan it
            trace.outcome = "delegated"
            self.outcomes["delegated"] += 1
            return self._fallback_plan(view, reading)
        while candidate is not None:
            error = candidate.error
            if candidate.plan is not None:
                try:
                    plan = self.accept(candidate.plan, view, reading)
                except PlanError as exc:
                    error = Refusal(str(exc), exc)
                else:
                    trace.accepted = candidate
                    trace.outcome = "completed" if plan.completed_by else "model"
                    self.outcomes[trace.outcome] += 1
                    return plan
            error = error or "the candidate has no plan"
            trace.errors.append(error)
            log.info("%s planner: candidate %r rejected (%s)", self.name, candidate.text[:200], error)
            if candidate.round == 0 and getattr(self.primary, "repairs_enabled", False):
                self.stats["repairs"] += 1  # the step goes to a second round (beams, or the error sent back)
            try:
                candidate = proposals.send(error)
            except StopIteration:
                candidate = None
        self.last_error = trace.errors[-1] if trace.errors else None
        # a routine outcome (counted in stats and outcomes), not a fault: no warning in the shopper's terminal
        log.info("%s planner: no valid plan (%s); using the fallback planner", self.name, self.last_error)
        self.stats["fallbacks"] += 1
        trace.outcome = "fallback"
        self.outcomes["fallback"] += 1
        return self._fallback_plan(view, reading)
