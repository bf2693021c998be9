"""Train-only phrasings written in other voices than ours, for the everyday generators' pools.

Our own phrasing pools (:mod:`training.planner.data_everyday`) are written in one voice, and a planner trained
on them passed no more conversations than the rules planner on everyday conversations written by someone else
(``evals/everyday/heldout2``). The modules here were written by other writers, each from phrasing styles read in
public forum threads, Q&A pages, reviews and blogs (every sentence in the writer's own words), without reading
our eval conversations or our pools' phrasings: :mod:`.a` (changes to outfit pieces, questions about shown
items, conversation moves, follow-up filters) and :mod:`.b` (needs and occasions, searches, outfits, shorthand,
rambling, off-topic asks).

:data:`TRAIN_VOICES` maps a pool (``"ROLE_CHANGES:color"`` for a kind of a table of pools, ``"SEARCH_FORMS"``
for a single pool) to phrasings with the same slots as that pool's own (``{role}``, ``{color}``, ...); they are
appended to the pool's ``train`` list only, so the held-out phrasings stay unseen.
"""

from __future__ import annotations

from training.planner.voices.a import TRAIN_VOICES as _A
from training.planner.voices.b import TRAIN_VOICES as _B

__all__ = ["TRAIN_VOICES"]

TRAIN_VOICES: dict[str, list[str]] = {}
for _part in (_A, _B):
    for _key, _phrasings in _part.items():
        TRAIN_VOICES.setdefault(_key, []).extend(_phrasings)
