"""The deterministic message reader: pure functions, no planner and no model.

It reads one shopper message (normalised: accents, contractions, currency, numbers written as words,
modest typo repair), finds the catalog vocabulary in it (categories, colours, styles, materials,
occasions) and which of those are negated ("no black", "without a bag"), the price constraints,
the lasting preferences stated ("I love navy", "I'm a size M"), and which shown item a phrase
refers to ("the second one", "the bag", "SHT-0042", "it"). Every planner, the plan checks and the
memory extractor read the same :class:`ParsedMessage`, computed once per turn
(:attr:`agent.plan.PlannerInput.parsed`).

Modules, in dependency order: :mod:`.text` (normalisation), :mod:`.mentions`, :mod:`.prices`,
:mod:`.facts`, :mod:`.cues` (intent cue patterns), :mod:`.message` (:func:`parse_message`),
:mod:`.references`.
"""

from agent.understanding.facts import FactHit
from agent.understanding.mentions import Mention, find_mentions, mark_negations
from agent.understanding.message import ParsedMessage, parse_message
from agent.understanding.prices import PriceHit, find_prices, price_slots
from agent.understanding.references import Reference, find_reference
from agent.understanding.text import normalize_text

__all__ = [
    "FactHit", "Mention", "ParsedMessage", "PriceHit", "Reference", "find_mentions", "find_prices",
    "find_reference", "mark_negations", "normalize_text", "parse_message", "price_slots",
]
