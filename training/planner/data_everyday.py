"""Everyday-phrasing planning samples: indirect needs, role references, questions, moves, shorthand, rambling.

The base build (:mod:`training.planner.data`) draws its messages from short request templates; a model
trained on them alone stays level with keyword rules on messages written another way. These generators
add the kinds of phrasing that failed (issue 23):

* indirect needs mapped to categories or an occasion ("it's freezing on my commute" -> coats,
  "my feet hurt in heels" -> flat shoes, "off to the seaside" -> a beach outfit);
* a piece of the outfit just shown named by its role ("swap the shoes for black ones": the outfit's
  sneakers, sandals or boots; "the top" is its top, shirt or pullover);
* questions about the items shown (``answer_about_items``) and conversation moves (thanks, goodbyes,
  never mind, back to the earlier list: ``show_earlier``);
* shorthand and typos ("blk boots sz 38 <90 pls") and long rambling messages with the request buried in them.

Styles are held out whole: every generator has its phrasings in two pools, and so do the rambling
voices and the shorthand rules; the ``test`` pool of each is never drawn for training, so the
``everyday`` test split measures phrasing styles the model has not seen (not only unseen templates).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from agent.plan import Plan
from agent.planners.compact import to_compact
from training.planner.data import CAT_WORDS, Draft, Gen, PlannerSample, _call

__all__ = ["EVERYDAY_GENERATORS", "build_everyday_samples"]

Pools = dict[str, Sequence[str]]


def _pool(g: Gen, pools: Pools, split: str) -> str:
    return str(g.pick(pools[split]))


# --------------------------------------------------------------------------------------------------
# Indirect needs
# --------------------------------------------------------------------------------------------------

#: Need -> (categories searched, phrasings {train, test}).
NEED_PHRASES: dict[str, tuple[list[str], Pools]] = {
    "cold_outside": (["coat"], {
        "train": ["it's freezing out and I need something warm to throw on",
                  "it's so cold on my walk to work, what can I wear over my clothes",
                  "I need a layer for the cold mornings",
                  "the weather's turned and I've got nothing warm to go out in",
                  "it keeps raining and I get soaked on the way to the office, what should I wear over everything",
                  "windy and wet all week here, need something to keep me dry outside",
                  "winter's coming and I don't own anything warm enough for outside",
                  "I'm always cold waiting for the bus, help"],
        "test": ["it's bitter out and my hoodie isn't cutting it anymore",
                 "need something to keep the rain off on my bike ride in",
                 "brr, autumn is here, what can I put over my outfits when I head out"]}),
    "cold_inside": (["pullover"], {
        "train": ["the office is freezing, I need something cosy to wear at my desk",
                  "our aircon is brutal, something warm to keep on indoors",
                  "I'm always cold at home in the evenings, want something snug",
                  "my flat is so cold, need a warm layer for indoors"],
        "test": ["work keeps the heating off and I sit there shivering all day"]}),
    "sore_feet": (["sneakers"], {
        "train": ["my feet hurt in heels, something comfier for the office",
                  "I can't walk in heels anymore, need flat shoes",
                  "my feet are killing me, I need shoes I can stand in all day",
                  "something flat and comfortable to walk around in all day",
                  "heels give me blisters, what else can I wear on my feet",
                  "I'm on my feet all day at work, need comfy shoes"],
        "test": ["these stilettos are torture, find me something kinder to my feet",
                 "my arches ache by lunchtime, need shoes with no heel"]}),
    "hot_feet": (["sandals"], {
        "train": ["it's boiling and my feet are melting in my boots, what can I wear instead",
                  "heatwave this week, I need something open on my feet",
                  "too hot for trainers, what can I put on my feet"],
        "test": ["it's 34 degrees and my toes need air"]}),
    "wet_ground": (["ankle_boots"], {
        "train": ["it's snowing and my shoes keep getting soaked, what should I wear on my feet",
                  "going hiking this weekend and my trainers won't handle the mud",
                  "the paths are all mud round here, need something sturdy for my feet",
                  "festival in the rain, what do I put on my feet"],
        "test": ["slush everywhere and my canvas shoes are ruined, need better footwear"]}),
}
BEACH_PHRASES: Pools = {
    "train": ["off to the beach next week, what should I wear",
              "I'm going to the seaside on saturday, can you sort me an outfit",
              "holiday by the pool next month, what should I pack to wear",
              "beach day with friends tomorrow, help me look good",
              "we're going to the coast for the weekend, what should I wear"],
    "test": ["flying somewhere sunny with a pool next week, dress me for the daytime"],
}


def g_need(g: Gen, split: str) -> Draft:
    """Draw an indirect need: a situation that calls for a category (search), maybe with a colour or a price."""
    need = g.pick(sorted(NEED_PHRASES))
    categories, pools = NEED_PHRASES[need]
    text = _pool(g, pools, split)
    args: dict[str, Any] = {"categories": list(categories)}
    if g.chance(0.3):
        c, w = g.color()
        text += g.pick([f", ideally {w}", f", {w} if you have it", f" - {w} would be nice"])
        args["colors"] = [c]
    if g.chance(0.3):
        p = g.pick([40, 50, 60, 80, 100, 120])
        text += g.pick([f", under {p}", f", nothing over {p}", f", max {p}"])
        args["max_price"] = float(p)
    return Draft(text, _call("search", "search_catalog", args), {"turn": g.rng.randint(0, 4)})


def g_beach(g: Gen, split: str) -> Draft:
    """Draw a beach or pool trip: an outfit for the beach."""
    return Draft(_pool(g, BEACH_PHRASES, split), _call("recommend_outfit", "recommend_outfit", {"occasion": "beach"}),
                 {"turn": g.rng.randint(0, 4)})


# --------------------------------------------------------------------------------------------------
# Role references to a shown outfit
# --------------------------------------------------------------------------------------------------

#: Role words per category (what a shopper calls the piece of an outfit).
ROLE_WORDS: dict[str, list[str]] = {
    "top": ["top", "tee", "t-shirt", "blouse"], "shirt": ["shirt", "top"], "pullover": ["jumper", "sweater", "top"],
    "trousers": ["trousers", "pants", "bottoms", "jeans"], "dress": ["dress"], "coat": ["jacket", "coat"],
    "sandals": ["shoes", "sandals", "heels"], "sneakers": ["shoes", "trainers", "sneakers"],
    "ankle_boots": ["shoes", "boots"], "bag": ["bag", "handbag", "purse"],
}
ROLE_CHANGES: dict[str, Pools] = {
    "color": {"train": ["swap the {role} for a {color} one", "change the {role} to {color}",
                        "can the {role} be {color} instead", "I'd rather have the {role} in {color}",
                        "the {role} would look better in {color}", "{color} {role} instead?"],
              "test": ["not feeling that colour on the {role}, got it in {color}?"]},
    "cheaper": {"train": ["something cheaper for the {role}", "the {role} is too pricey, cheaper one?",
                          "can you find a cheaper {role}", "swap the {role} for something less expensive",
                          "the {role} costs too much"],
                "test": ["love it all except the price of the {role}, anything more affordable"]},
    "pricier": {"train": ["a nicer {role}, I don't mind spending more", "upgrade the {role} to something pricier"],
                "test": ["treat me to a fancier {role}, money's no object"]},
    "other": {"train": ["I don't like the {role}, other options?", "show me other {role} for this",
                        "not sure about the {role}, what else is there", "swap out the {role}"],
              "test": ["the {role} isn't doing it for me"]},
    "casual": {"train": ["the {role} is too formal, something more casual", "a more relaxed {role} please"],
               "test": ["the {role} feels a bit stiff for the occasion"]},
}


def g_role(g: Gen, split: str) -> Draft:
    """Draw a change of a piece of the outfit shown last, named by its role ("the shoes", "the top")."""
    turn = g.rng.randint(1, 6)
    outfit = g.shown(g.outfit_items(), turn - 1, "recommend_outfit")
    piece = g.pick(outfit)
    role = g.pick(ROLE_WORDS[piece.category])
    others = [s for s in outfit if s is not piece and role in ROLE_WORDS[s.category]]
    if others:  # "the top" must name one piece only
        role = CAT_WORDS[piece.category][0][2]
    change = g.pick(sorted(ROLE_CHANGES))
    tpl = _pool(g, ROLE_CHANGES[change], split)
    args: dict[str, Any] = {"item_id": piece.id}
    slot = {"role": role}
    if change == "color":
        c, w = g.color(avoid=[piece.color])
        slot["color"], args["color"] = w, c
    elif change == "cheaper":
        args["cheaper"] = True
    elif change == "pricier":
        args["pricier"] = True
    elif change == "casual":
        args["style"] = "casual"
    history = [{"role": "user", "content": g.pick(["an outfit for the weekend", "put a look together for dinner",
                                                   "something to wear to work"])},
               {"role": "assistant", "content": f"Here is an outfit of {len(outfit)} pieces."}]
    view = {"turn": turn, "history": history, "shown": outfit, "last_shown": outfit,
            "outfits": [[s.id for s in outfit]]}
    return Draft(tpl.format(**slot), _call("find_alternatives", "find_alternatives", args), view)


# --------------------------------------------------------------------------------------------------
# Questions about the items shown
# --------------------------------------------------------------------------------------------------

QUESTIONS: dict[str, Pools] = {
    "cheapest": {"train": ["which one is cheapest?", "which of these costs the least", "what's the cheapest one",
                           "cheapest?", "which is the most affordable of them", "which one's the lowest price"],
                 "test": ["out of that lot which is kindest on the wallet?"]},
    "priciest": {"train": ["which one is the most expensive?", "which is the priciest", "what's the dearest one",
                           "which of them costs the most"],
                 "test": ["which one would hurt my bank account the most"]},
    "total": {"train": ["how much is the whole outfit?", "what does it all come to", "total price?",
                        "how much for everything", "add it all up for me", "what would the full look cost"],
              "test": ["what's the damage for the complete set"]},
    "stock": {"train": ["is the {ord} one in stock?", "do you still have the {ord} one", "is the {role} available?",
                        "is it in stock", "any of the {ord} one left?"],
              "test": ["can I actually get hold of the {ord} one right now"]},
    "material": {"train": ["what's the {ord} one made of?", "what material is the {role}", "what fabric is it",
                           "what's the {role} made from", "wht is the {ord} one made of"],
                 "test": ["the {ord} one, is that a natural fibre or what"]},
    "brand": {"train": ["what brand is the {ord} one", "who makes the {role}", "which brand is it"],
              "test": ["whose label is on the {ord} one"]},
    "price": {"train": ["how much is the {ord} one?", "what does the {role} cost", "price of the {ord} one?"],
              "test": ["what are they asking for the {ord} one"]},
}
_ORD_WORDS = {1: ["first", "1st"], 2: ["second", "2nd"], 3: ["third", "3rd"]}


def g_question(g: Gen, split: str) -> Draft:
    """Draw a question about the items shown last, answered by ``answer_about_items`` from the catalog."""
    turn = g.rng.randint(1, 6)
    if g.chance(0.5):
        cat, _ = g.category()
        shown = g.shown(g.result_items(cat), turn - 1, "search_catalog")
    else:
        shown = g.shown(g.outfit_items(), turn - 1, "recommend_outfit")
    about = g.pick(sorted(QUESTIONS))
    tpl = _pool(g, QUESTIONS[about], split)
    args: dict[str, Any] = {"about": about}
    view: dict[str, Any] = {"turn": turn, "shown": shown, "last_shown": shown}
    if "{ord}" in tpl:
        k = g.rng.randint(1, min(3, len(shown)))
        tpl = tpl.replace("{ord}", g.pick(_ORD_WORDS[k]))
        args["item_id"] = shown[k - 1].id
    elif "{role}" in tpl:
        cats = [s.category for s in shown]
        piece = g.pick([s for s in shown if cats.count(s.category) == 1] or shown)
        tpl = tpl.replace("{role}", CAT_WORDS[piece.category][0][2])
        args["item_id"] = piece.id
    elif re.search(r"\bit\b", tpl) and about not in ("cheapest", "priciest", "total"):
        piece = g.pick(shown)
        view["focus_item_id"] = piece.id
        args["item_id"] = piece.id
    return Draft(tpl, _call("question", "answer_about_items", args), view)


# --------------------------------------------------------------------------------------------------
# Conversation moves
# --------------------------------------------------------------------------------------------------

MOVES: dict[str, Pools] = {
    "thanks": {"train": ["thanks!", "cheers, that's great", "thank you so much", "ta", "thx, perfect",
                         "brilliant, thanks a lot", "lovely, thank you"],
               "test": ["you're a star, appreciated"]},
    "bye": {"train": ["bye!", "ok bye for now", "that's all I needed, bye", "see you later", "laters",
                      "that's everything, goodbye"],
            "test": ["right, I'm off, speak soon"]},
    "never_mind": {"train": ["never mind", "forget it", "nevermind, I'll think about it", "oh never mind",
                             "actually forget it"],
                   "test": ["scratch that, not bothered anymore"]},
    "back": {"train": ["go back to the previous ones", "show me the ones from before again",
                       "the earlier ones were better, bring them back", "can I see the first lot again",
                       "go back to those"],
             "test": ["hmm I preferred what you had up before"]},
}


def g_move(g: Gen, split: str) -> Draft:
    """Draw a conversation move after results: thanks, goodbye, never mind (small talk), or back to a list."""
    move = g.pick(sorted(MOVES))
    text = _pool(g, MOVES[move], split)
    turn = g.rng.randint(2, 6)
    cat, _ = g.category()
    first = g.shown(g.result_items(cat), turn - 2, "search_catalog")
    cat2, _ = g.category()
    second = g.shown(g.result_items(cat2), turn - 1, "search_catalog")
    view = {"turn": turn, "shown": [*first, *second], "last_shown": second}
    if move == "back":
        return Draft(text, _call("show_again", "show_earlier", {"back": 1}), view)
    return Draft(text, Plan(intent="small_talk"), view)


# --------------------------------------------------------------------------------------------------
# Shorthand and rambling
# --------------------------------------------------------------------------------------------------

SHORT_COLORS = {"black": ["blk", "black"], "white": ["wht", "white"], "grey": ["gry", "grey"], "navy": ["navy"],
                "blue": ["blu", "blue"], "red": ["red"], "green": ["grn", "green"], "beige": ["beige"],
                "brown": ["brn", "brown"], "pink": ["pink"], "yellow": ["yellow"], "purple": ["purple"],
                "orange": ["orange"]}
SHORT_FORMS: Pools = {
    "train": ["{color} {cats} under {price} pls", "{color} {cats} <{price}", "any {color} {cats}? max {price}",
              "{cats} in {color}, {price} max", "need {color} {cats} asap, budget {price}",
              "{color} {cats} sz M under {price}"],
    "test": ["{cats} - {color} - sub {price} thx"],
}
RAMBLE_VOICES: Pools = {
    "train": ["ok so long story short, {req}",
              "I've been meaning to sort my wardrobe out for ages and never get round to it, anyway {req}",
              "my sister keeps telling me I dress like a student lol, {req}",
              "so I had a look around town yesterday and found nothing I liked, {req}, if that makes sense",
              "bit of a random one but {req}. thanks in advance!",
              "hi, hope you're well! I'm having a bit of a crisis, {req}",
              "{req}. sorry for the essay, I'm terrible at shopping"],
    "test": ["honestly I'm hopeless at this stuff and my partner has given up on me, so {req}, no pressure"],
}


def g_short(g: Gen, split: str) -> Draft:
    """Draw shorthand, typos and symbols: a search with a colour, a category and a price cap."""
    cat, words = g.category()
    color = g.pick(sorted(SHORT_COLORS))
    price = g.pick([30, 40, 50, 60, 80, 100, 150])
    tpl = _pool(g, SHORT_FORMS, split)
    text = tpl.format(color=g.pick(SHORT_COLORS[color]), cats=words[1], price=price)
    args: dict[str, Any] = {"categories": [cat], "colors": [color], "max_price": float(price)}
    if "sz M" in text:
        args["sizes"] = ["M"]
    return Draft(text, _call("search", "search_catalog", args), {"turn": g.rng.randint(0, 4)})


def g_ramble(g: Gen, split: str) -> Draft:
    """Draw a long message with the request buried in it: a search or an outfit for an occasion."""
    voice = _pool(g, RAMBLE_VOICES, split)
    if g.chance(0.55):
        cat, words = g.category()
        args: dict[str, Any] = {"categories": [cat]}
        req = g.pick(["I need a {w}", "could you find me a {w}", "I'm after a {w}", "have you got a {w}"]).format(
            w=words[0])
        if g.chance(0.5):
            p = g.pick([40, 60, 80, 100, 120])
            req += g.pick([f" for under {p}", f", nothing over {p}", f" (budget about {p})"])
            args["max_price"] = float(p)
        plan = _call("search", "search_catalog", args)
    else:
        occ, phrase = g.occasion()
        req = g.pick(["could you put an outfit together for {o}", "I need something to wear for {o}",
                      "help me with a look for {o}"]).format(o=phrase)
        plan = _call("recommend_outfit", "recommend_outfit", {"occasion": occ})
    return Draft(voice.format(req=req), plan, {"turn": g.rng.randint(0, 4)})


#: The generators, with their relative weights.
EVERYDAY_GENERATORS: dict[str, tuple[Callable[[Gen, str], Draft], float]] = {
    "need": (g_need, 6), "beach": (g_beach, 1.5), "role": (g_role, 6), "question": (g_question, 6),
    "move": (g_move, 3), "short": (g_short, 2.5), "ramble": (g_ramble, 3),
}


def build_everyday_samples(items: Sequence[Any], n: int, split: str = "train", seed: int = 0) -> list[PlannerSample]:
    """Draw ``n`` everyday samples from the ``train`` or the held-out ``test`` phrasing pools (deterministic)."""
    from agent.plan import PlannerInput
    from agent.planners.checks import PlanError
    from agent.planners.grounding import ground_plan
    from training.planner.data import _tool_schemas

    rng = random.Random(f"everyday-{split}-{seed}")
    g = Gen(rng, sorted(items, key=lambda i: i.id))
    schemas = _tool_schemas()
    names = list(EVERYDAY_GENERATORS)
    weights = [EVERYDAY_GENERATORS[k][1] for k in names]
    out: list[PlannerSample] = []
    while len(out) < n:
        name = rng.choices(names, weights)[0]
        draft = EVERYDAY_GENERATORS[name][0](g, split)
        view = PlannerInput(text=draft.text, tools=schemas, **draft.view)
        try:
            ground_plan(draft.target, view)
        except PlanError:
            continue
        out.append(PlannerSample(
            id=f"e{split[:2]}{seed}-{len(out):05d}", task=f"everyday_{name}", family=f"everyday_{name}",
            group=f"everyday_{name}", split="train" if split == "train" else "test", view=view,
            target=draft.target, compact=to_compact(draft.target), tools=sorted(schemas)))
    return out


def _check(samples: Sequence[PlannerSample]) -> None:
    """Fail when a target does not survive the compact format (a generator bug)."""
    from agent.planners.compact import from_compact

    for s in samples:
        back = from_compact(s.compact)
        if back.calls != s.target.calls:
            raise ValueError(f"{s.id}: {s.compact!r} reads back as {back.calls}")

