"""Indirect needs: a situation the shopper describes that implies a kind of garment or an occasion.

"It's freezing on my walk to work" asks for outerwear, "my feet hurt in heels" for flat shoes, "off to
the seaside next week" for a beach outfit; none of them names a catalog category. Two readers:

* :func:`need_cues`: keyword patterns (deterministic; the rules planner routes on them, and grounding
  accepts a model's category or occasion they support);
* :func:`need_prior`: closeness in meaning (MiniLM, the packaged sentence model) between the message and
  a few descriptions of each need, for phrasings no pattern lists. Only the model pipeline's grounding
  uses it: a model plan whose category the message implies this way is accepted, never invented by it.

Both return :class:`Need` values: the categories (or the occasion) the situation calls for.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["NEEDS", "PRIOR_THRESHOLD", "Need", "need_cues", "need_prior"]


@dataclass(frozen=True)
class Need:
    """A need and what it calls for: catalog ``categories`` to search, or an ``occasion`` for an outfit."""

    name: str
    categories: tuple[str, ...] = ()
    occasion: str | None = None


#: The needs, each with its keyword pattern (on the normalised, lower-case message) and a few descriptions
#: in shoppers' words for the similarity prior.
NEEDS: tuple[tuple[Need, re.Pattern[str], tuple[str, ...]], ...] = (
    (Need("cold_outside", ("coat",)),
     re.compile(r"\b(?:freezing|cold|chilly|icy|windy|wind|rain|rainy|raining|pouring|drizzle|wet weather|"
                r"storm|winter)\b.*\b(?:out|outside|walk|commute|station|bus|morning|evening|layer|over|throw on|"
                r"weather|forecast|keep (?:me )?(?:warm|dry))\b|\b(?:layer|something) to (?:throw|put|wear) "
                r"(?:on|over)\b|\bwear over (?:everything|my)\b|\bkeep (?:me )?(?:warm|dry) (?:outside|out)\b"),
     ("it's cold outside and I need something warm to wear over my clothes",
      "it's raining all week, what can I wear to stay dry on my way to work",
      "I need a layer to throw on when I go out in the wind")),
    (Need("cold_inside", ("pullover",)),
     re.compile(r"\b(?:air ?con|aircon|air conditioning|office is (?:so |really |like a )?(?:cold|freezing|fridge)|"
                r"shivering at my desk|cold at my desk|cosy|cozy)\b"),
     ("the office is so cold, I need something cosy to keep at my desk",
      "I'm always cold indoors, something warm and snug to wear inside")),
    (Need("sore_feet", ("sneakers",)),
     re.compile(r"\b(?:heels|feet|foot)\b.*\b(?:hurt|hurts|hurting|ache|aching|killing|sore|blisters?|pain)\b|"
                r"\b(?:hurt|hurts|ache|killing|sore|blisters?)\b.*\b(?:heels|feet|foot)\b|"
                r"\bflat shoes\b|\bflats\b|\bsomething flat\b|\bcomfier shoes\b|\bcomfy shoes\b|"
                r"\bon my feet all day\b|\bwalk in all day\b"),
     ("my feet hurt in heels, I need comfortable flat shoes",
      "I stand all day at work and need comfy shoes I can walk in",
      "I can't walk in heels, something flat please")),
    (Need("hot_feet", ("sandals",)),
     re.compile(r"\b(?:hot|heat ?wave|heat|sweltering|boiling|melting|degrees)\b.*\b(?:feet|shoes|boots|toes)\b|"
                r"\b(?:feet|toes)\b.*\b(?:hot|melting|boiling|sweating)\b|\bopen toed?\b|\bopen shoes\b"),
     ("it's so hot, my feet are melting in my boots, I want open shoes",
      "something to wear on my feet in a heatwave")),
    (Need("wet_ground", ("ankle_boots",)),
     re.compile(r"\b(?:snow|snowing|slush|slushy|mud|muddy|mudbath|puddles|waterproof|hiking|hike|walk in the hills|"
                r"countryside walk|trail)\b.*\b(?:feet|shoes|trainers|footwear|wear|boots|get)\b|"
                r"\b(?:feet|shoes|trainers)\b.*\b(?:soaked|soaking|wet|snow|mud|muddy)\b"),
     ("it's snowing and my shoes get soaked, what should I wear on my feet",
      "going on a muddy hike, I need sturdy footwear",
      "a festival in the mud, what do I put on my feet")),
    (Need("beach", occasion="beach"),
     re.compile(r"\b(?:seaside|beach|by the pool|pool|poolside|sun ?bathing|coast|island|resort)\b"),
     ("off to the beach next week, what should I pack to wear",
      "a week by the pool on holiday, what can I wear during the day")),
)

#: Lowest cosine similarity (MiniLM) between the message and a need's description for the prior to name it.
PRIOR_THRESHOLD = 0.5


def need_cues(text: str) -> list[Need]:
    """Return the needs whose keyword pattern matches ``text`` (lower-cased), in table order."""
    low = text.lower().replace("\u2019", "'")
    return [need for need, pattern, _ in NEEDS if pattern.search(low)]


@functools.cache
def _description_vectors() -> Any:
    from agent.embeddings import get_text_embedder

    texts = [d for _, _, descriptions in NEEDS for d in descriptions]
    return get_text_embedder().encode(texts)


@functools.cache
def _owners() -> tuple[int, ...]:
    return tuple(n for n, (_, _, descriptions) in enumerate(NEEDS) for _ in descriptions)


@functools.lru_cache(maxsize=512)
def need_prior(text: str, threshold: float = PRIOR_THRESHOLD) -> tuple[Need, ...]:
    """Return the needs whose descriptions are close in meaning to ``text`` (cosine >= ``threshold``), best first.

    Embeds the message with the packaged MiniLM model (:func:`agent.embeddings.get_text_embedder`).
    """
    from agent.embeddings import get_text_embedder

    if not text.strip():
        return ()
    scores = _description_vectors() @ get_text_embedder().encode_one(text.strip())
    best: dict[int, float] = {}
    for owner, score in zip(_owners(), scores.tolist(), strict=True):
        best[owner] = max(best.get(owner, -1.0), float(score))
    ranked = sorted((n for n, s in best.items() if s >= threshold), key=lambda n: -best[n])
    return tuple(NEEDS[n][0] for n in ranked)
