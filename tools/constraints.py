"""Which of the request's constraints a tool applied exactly, which it approximated, and which it could not apply.

Every tool's result carries a :class:`ConstraintReport` (filled in by :meth:`tools.base.Tool.__call__`
from the tool's validated arguments and the shopper's message, unless the tool wrote its own): the reply
states the approximations and the unapplied constraints in one sentence before the items, so a search
that used blue for "teal", or €40 for "£40", never reads as an exact match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.catalog.vocab import category_label
from agent.understanding.limits import CURRENCY_NAMES, Shade
from agent.understanding.message import ParsedMessage, parse_message


class Approximation(BaseModel):
    """A constraint applied approximately: what was asked, what was used, and why."""

    model_config = ConfigDict(extra="forbid")

    asked: str
    used: str
    reason: str


class Unapplied(BaseModel):
    """A constraint the tool could not apply, and why."""

    model_config = ConfigDict(extra="forbid")

    asked: str
    reason: str


class ConstraintReport(BaseModel):
    """The request's constraints as a tool treated them: ``applied`` exactly, ``approximated``, ``not_applied``."""

    model_config = ConfigDict(extra="forbid")

    applied: list[str] = Field(default_factory=list)
    approximated: list[Approximation] = Field(default_factory=list)
    not_applied: list[Unapplied] = Field(default_factory=list)

    def sentence(self) -> str:
        """Return one short sentence on the approximations and unapplied constraints ("" when there are none)."""
        parts = [f"{a.asked} is read as {a.used} ({a.reason})" for a in self.approximated]
        parts += [f"I couldn't apply {u.asked} ({u.reason})" for u in self.not_applied]
        if not parts:
            return ""
        text = "; ".join(parts)
        return "Note: " + text + "."


_LIST_KINDS = ("category", "color", "style", "material", "occasion")


def _values(value: Any) -> list[str]:
    if value is None or value is False:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _describe(kind: str, key: str, value: Any, currency: str) -> list[str]:
    if kind == "price":
        word = {"min_price": "from", "max_total": "up to (in total)"}.get(key, "up to")
        return [f"{word} {currency}{float(value):g}"]
    if kind.startswith("exclude_"):
        return [f"not {v}" for v in _values(value)]
    if kind == "category":
        return [category_label(v) for v in _values(value)]
    return _values(value)


def shades_used(parsed: ParsedMessage | None, args: Mapping[str, Any], kinds: Mapping[str, str]) -> list[Shade]:
    """Return the shades of the message whose nearest catalog colour is among the colour arguments."""
    if parsed is None:
        return []
    colours = {v for key, value in args.items() if kinds.get(key) == "color" for v in _values(value)}
    return [s for s in parsed.shades if s.value in colours]


def report_for(args: Mapping[str, Any], kinds: Mapping[str, str], request: str, currency: str) -> ConstraintReport:
    """Return the constraint report of a call: its arguments as applied, and what the message asked beyond them."""
    parsed = parse_message(request) if request.strip() else None
    report = ConstraintReport()
    for key, value in args.items():
        kind = kinds.get(key, "")
        if kind.removeprefix("exclude_") in _LIST_KINDS or kind == "price":
            report.applied.extend(_describe(kind, key, value, currency))
    if parsed is None:
        return report
    for shade in shades_used(parsed, args, kinds):
        report.approximated.append(Approximation(
            asked=shade.word, used=shade.value,
            reason=f"the catalog has no {shade.word}; {shade.value} is the nearest colour"))
    prices = [(key, value) for key, value in args.items() if kinds.get(key) == "price" and value is not None]
    other = [c for c in parsed.currencies if c != currency]
    if other and prices:
        sym = other[0]
        for _, value in prices:
            report.approximated.append(Approximation(
                asked=f"{sym}{float(value):g}", used=f"{currency}{float(value):g}",
                reason=f"prices here are in {CURRENCY_NAMES.get(currency, currency)} and I can't convert "
                       f"{CURRENCY_NAMES.get(sym, sym)}"))
    given = {str(s).upper() for s in args.get("sizes") or []}
    for size in parsed.sizes:
        if size.upper() not in given:
            report.not_applied.append(Unapplied(asked=f"size {size}", reason="this search was made without it"))
    return report
