"""Supplementary, train-only planning samples (``fashionm3 data build-planner --extra N``).

The base build (:func:`training.planner.data.build_samples`) splits every template group into
train/valid/test phrasings. Several behaviours had only two or three training phrasings, and some
were not in the data at all; the fine-tuned planner missed them on the held-out split and in the
scripted conversations. These groups (``families/extra_families.yaml``) add new phrasings of those
behaviours, and the missing ones:

* follow-ups to a generated design: "find real ones like it" (image search on the design), an edit
  of the design ("make it green": ``generate_image`` with ``edit_image=latest``), and
  design-then-find in one message (two calls);
* a colour change after an alternative ("and in blue?" refers to the piece being replaced);
* try-on wordings with and without a photo of the shopper (without one the planner must ask);
* preference statements, forget requests, memory questions, small talk and out-of-scope requests;
* outfits around a shown piece, and cheaper/pricier swaps of an outfit piece named by category.

Every sample goes to the train split, drawn from its own seeded stream after the base samples, so
the base build (and its held-out test split) is unchanged byte for byte. None of these phrasings is
a test phrasing of the base build (a test checks this).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

from agent.plan import ImageInfo, Plan, ToolCall
from agent.planners.compact import to_compact
from training.planner.data import (
    BUILDERS,
    CAT_WORDS,
    FAMILIES_DIR,
    TASK_WEIGHTS,
    Builder,
    Draft,
    Family,
    Gen,
    PlannerSample,
    _call,
    _fields,
    family_name,
    load_families,
    roughen,
)

__all__ = ["EXTRA_BUILDERS", "EXTRA_FAMILIES", "EXTRA_WEIGHTS", "build_extra_samples"]


def _design(g: Gen, turn: int) -> tuple[ImageInfo, list[dict[str, str]], str, str]:
    """Return a design generated last turn, the two history lines that made it, and its category/colour."""
    cat, words = g.category()
    color, cw = g.color()
    noun = words[1] if words[0].startswith("pair of") else words[0]
    sha = hashlib.sha256(f"design-{g.rng.random()}".encode()).hexdigest()
    image = ImageInfo(sha256=sha, path=f"generated/{sha[:16]}.png", turn=turn - 1, width=512, height=512,
                      category=cat, category_confidence=1.0, color=color, color_confidence=1.0, kind="generated")
    asked = g.pick(["design me a {d}", "draw a {d}", "can you sketch a {d}?", "generate a {d}"]).format(
        d=f"{cw} {noun}")
    history = [{"role": "user", "content": asked},
               {"role": "assistant", "content": f"Here is a design of a {cw} {noun}. Shall I find real ones like it?"}]
    return image, history, cat, color


def b_design_find(g: Gen, tpl: str) -> Draft:
    """Find in-stock items like the design generated last turn (image search on it)."""
    turn = g.rng.randint(1, 6)
    image, history, cat, _ = _design(g, turn)
    f = _fields(tpl)
    slot: dict[str, str] = {"cats": g.pick(CAT_WORDS[cat])[1]}
    args: dict[str, Any] = {"image": "latest", "categories": [cat]}
    if "price" in f:
        p = g.pick([30, 40, 50, 60, 80, 100, 120])
        slot["price"], args["max_price"] = g.under(p), float(p)
    view = {"turn": turn, "history": history, "images": [image]}
    return Draft(tpl.format(**slot), _call("search", "search_catalog", args), view)


def b_design_edit(g: Gen, tpl: str) -> Draft:
    """Change the colour of the design generated last turn (an edit of it, same category)."""
    turn = g.rng.randint(1, 6)
    image, history, cat, color = _design(g, turn)
    c, w = g.color(avoid=[color])
    text = tpl.format(color=w)
    prompt = " ".join(text.lower().strip(" .!?").split())
    view = {"turn": turn, "history": history, "images": [image]}
    return Draft(text, _call("generate_image", "generate_image",
                             {"prompt": prompt, "edit_image": "latest", "category": cat, "color": c}), view)


def b_design_then_find(g: Gen, tpl: str) -> Draft:
    """Design a garment and search the catalog with the design, in one message (two calls)."""
    cat, words = g.category()
    color, cw = g.color()
    noun = words[1] if words[0].startswith("pair of") else words[0]
    article = "" if words[0].startswith("pair of") else ("an " if cw[0] in "aeiou" else "a ")
    desc = f"{cw} {noun}"
    text = tpl.format(desc=article + desc)
    plan = Plan(intent="generate_image", calls=[
        ToolCall(name="generate_image", args={"prompt": desc, "category": cat, "color": color}),
        ToolCall(name="search_catalog", args={"image": "latest", "categories": [cat]}),
    ])
    return Draft(text, plan, {"turn": g.rng.randint(0, 4)})


def b_alt_again(g: Gen, tpl: str) -> Draft:
    """Change the colour (or ask cheaper again) of the piece whose alternatives were shown last turn."""
    turn = g.rng.randint(2, 6)
    outfit = g.shown(g.outfit_items(), turn - 2, "recommend_outfit")
    original = g.pick(outfit)
    ref = g.pick(CAT_WORDS[original.category])[2]
    alts = g.shown(g.result_items(original.category), turn - 1, "find_alternatives")
    alts = [a for a in alts if a.id != original.id] or alts
    history = [{"role": "user", "content": g.pick([f"something cheaper for the {ref}", f"a cheaper {ref}?",
                                                   f"other options for the {ref}", f"swap the {ref}"])},
               {"role": "assistant", "content": f"Here are {len(alts)} alternatives to the {ref}."}]
    view = {"turn": turn, "history": history, "shown": [*outfit, *alts], "last_shown": alts,
            "focus_item_id": original.id}
    f = _fields(tpl)
    args: dict[str, Any] = {"item_id": original.id}
    slot: dict[str, str] = {}
    if "color" in f:
        c, w = g.color(avoid=[original.color])
        slot["color"], args["color"] = w, c
    if "cheaper" in f:
        slot["cheaper"] = g.pick(["cheaper", "less expensive", "more affordable"])
        args["cheaper"] = True
    return Draft(tpl.format(**slot), _call("find_alternatives", "find_alternatives", args), view)


#: The builders the supplementary phrasing file may name: the base ones and this module's.
EXTRA_BUILDERS: dict[str, Builder] = {**BUILDERS, **{b.__name__: b for b in (
    b_design_find, b_design_edit, b_design_then_find, b_alt_again)}}
#: Supplementary groups (``families/extra_families.yaml``): (task, builder, phrasings), all train-only.
EXTRA_FAMILIES: dict[str, Family] = load_families(FAMILIES_DIR / "extra_families.yaml", EXTRA_BUILDERS, TASK_WEIGHTS)

#: Relative weight of each supplementary group.
EXTRA_WEIGHTS: dict[str, float] = {
    "x_design_find": 8, "x_design_edit": 8, "x_design_then_find": 7, "x_alt_again": 9, "x_alt_outfit_piece": 8,
    "x_tryon_nophoto": 8, "x_tryon_photo": 5, "x_ref_outfit": 8, "x_pref_like": 6, "x_pref_dislike": 8,
    "x_pref_size": 3, "x_forget": 6, "x_forget_all": 2, "x_memory": 4, "x_small_talk": 4, "x_out_of_scope": 6,
}


def build_extra_samples(items: Sequence[Any], n: int, seed: int = 0) -> list[PlannerSample]:
    """Draw ``n`` train-only supplementary samples (deterministic by ``seed``, independent of the base build)."""
    from agent.plan import PlannerInput
    from agent.planners.checks import PlanError
    from agent.planners.grounding import ground_plan
    from training.planner.data import _tool_schemas

    rng = random.Random(f"extra-{seed}")
    g = Gen(rng, sorted(items, key=lambda i: i.id))
    schemas = _tool_schemas()
    groups = list(EXTRA_FAMILIES)
    weights = [EXTRA_WEIGHTS[name] for name in groups]
    out: list[PlannerSample] = []
    while len(out) < n:
        group = rng.choices(groups, weights)[0]
        task, builder, phrasings = EXTRA_FAMILIES[group]
        index = rng.randrange(len(phrasings))
        draft = builder(g, phrasings[index])
        text = roughen(g, draft.text, task)
        fields = dict(draft.view)
        fields.setdefault("turn", rng.randint(0, 4))
        view = PlannerInput(text=text, tools=schemas, **fields)
        try:
            ground_plan(draft.target, view)
        except PlanError:
            continue  # a typo hid the word the plan rests on (e.g. "forget"): the planner could not know
        i = len(out)
        out.append(PlannerSample(
            id=f"x{seed}-{i:05d}", task=task, family=family_name(group, index), group=group, split="train",
            view=view, target=draft.target, compact=to_compact(draft.target), tools=sorted(schemas)))
    return out
