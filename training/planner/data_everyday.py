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
* life events that imply an occasion ("starting a new job monday" -> work, "night out with the girls" ->
  party), maybe with a style, a per-piece cap or a budget for the whole look (``max_total``);
* plain everyday outfit requests (style, occasion, colours, a piece to include) and single-item searches;
* "show me more" / "any others?" after a search: alternatives to the item in focus.

Every phrasing names its situation in words the plan checks ground (an occasion synonym, a need cue), so
few drafts are dropped by :func:`agent.planners.grounding.ground_plan`; budget phrasings are ones the
message reader takes the same way as the target (``max_total`` for the whole look, ``max_price`` per piece).

Styles are held out whole: every generator has its phrasings in two pools, and so do the rambling
voices and the shorthand rules; the ``test`` pool of each is never drawn for training, so the
``everyday`` test split measures phrasing styles the model has not seen (not only unseen templates).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from agent.catalog.vocab import FOOTWEAR, OCCASIONS
from agent.plan import Plan
from agent.planners.compact import to_compact
from training.planner.data import CAT_WORDS, STYLE_WORDS, Draft, Gen, PlannerSample, _call

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
                  "I'm always cold waiting for the bus, help",
                  "freezing on the school run every morning lol, what do I put over my clothes",
                  "its chilly out n i need somethin to throw on over my outfit",
                  "tbh I'm sick of being cold on my commute, what should I wear outside",
                  "could you help me find something to keep me warm outside? it's getting cold",
                  "rain rain rain. need something to wear over my clothes so I stop getting drenched",
                  "what should I wear over everything now it's icy in the mornings?",
                  "the forecast says storms all week and I walk everywhere, something to keep me dry please",
                  "hmm it's windy out and I keep shivering on the way to the station",
                  "need a warm layer for outside asap, it's freezing",
                  "I walk to uni and it's pouring most days, what can I throw on over my clothes",
                  "it's cold in the evenings now, I want a layer to throw on when I go out",
                  "so cold at the bus stop this morning omg, I need something warm for outside",
                  "winter weather has arrived and my outfits need something over them",
                  "walking the dog in the rain every day, what should I wear outside",
                  "any ideas for staying warm outside? it's freezing on my way in",
                  "I need something to throw on, its chilly out in the evenings",
                  "wet weather all week, I'd like something to keep me dry outside"],
        "test": ["it's bitter out and my hoodie isn't cutting it anymore",
                 "need something to keep the rain off on my bike ride in",
                 "brr, autumn is here, what can I put over my outfits when I head out"]}),
    "cold_inside": (["pullover"], {
        "train": ["the office is freezing, I need something cosy to wear at my desk",
                  "our aircon is brutal, something warm to keep on indoors",
                  "I'm always cold at home in the evenings, want something snug",
                  "my flat is so cold, need a warm layer for indoors",
                  "the aircon at work is set to arctic, what can I wear at my desk",
                  "office is like a fridge, need something cosy to keep at my desk",
                  "tbh the office is so cold I wear my coat inside, something cosy instead?",
                  "want something cozy for lazy evenings at home",
                  "our air conditioning is ridiculous, need a warm layer for inside",
                  "i get cold at my desk every afternoon, something cosy pls",
                  "something cosy to wear round the house now the heating's off",
                  "hmm I need a cozy layer for the office, it's freezing in there",
                  "cold at my desk all day, what could I keep on over my shirt"],
        "test": ["work keeps the heating off and I sit there shivering all day"]}),
    "sore_feet": (["sneakers"], {
        "train": ["my feet hurt in heels, something comfier for the office",
                  "I can't walk in heels anymore, need flat shoes",
                  "my feet are killing me, I need shoes I can stand in all day",
                  "something flat and comfortable to walk around in all day",
                  "heels give me blisters, what else can I wear on my feet",
                  "I'm on my feet all day at work, need comfy shoes",
                  "my feet ache after every shift, need comfier shoes",
                  "done with heels lol, something flat I can actually walk in",
                  "my feet are sore by the end of the day, need comfy shoes please",
                  "need flats for work, my feet hurt in my current shoes",
                  "i walk loads for my job and my feet are killing me",
                  "could you find me comfy shoes? I'm on my feet all day",
                  "blisters again from my work shoes, what's comfier",
                  "feet hurting after the wedding heels, something flat for everyday pls",
                  "sightseeing all week and my feet hurt in my boots, need comfier shoes",
                  "tbh my feet ache constantly, I want comfy shoes for walking"],
        "test": ["these stilettos are torture, find me something kinder to my feet",
                 "my arches ache by lunchtime, need shoes with no heel"]}),
    "hot_feet": (["sandals"], {
        "train": ["it's boiling and my feet are melting in my boots, what can I wear instead",
                  "heatwave this week, I need something open on my feet",
                  "too hot for trainers, what can I put on my feet",
                  "my feet are so hot in my shoes, want something open toed",
                  "it's sweltering, what can I wear on my feet that isn't boots",
                  "heat wave incoming, need open shoes",
                  "feet melting in this heat lol, what should I wear on them",
                  "way too hot for boots now, open shoes please",
                  "summer's here and my feet are boiling in sneakers, options?",
                  "hot feet all day in the office, something open toe for summer?",
                  "it's 30 degrees out, what can I wear on my feet",
                  "my toes are sweating in these shoes, need something cooler"],
        "test": ["it's 34 degrees and my toes need air"]}),
    "wet_ground": (["ankle_boots"], {
        "train": ["it's snowing and my shoes keep getting soaked, what should I wear on my feet",
                  "going hiking this weekend and my trainers won't handle the mud",
                  "the paths are all mud round here, need something sturdy for my feet",
                  "festival in the rain, what do I put on my feet",
                  "my feet get soaked every time it rains, need something better",
                  "walking in the countryside on sunday, the trail will be muddy, what shoes",
                  "snow forecast next week and my trainers are useless, what do I wear",
                  "puddles everywhere on my way in, my shoes get wet through",
                  "need something waterproof for my feet, it's muddy on the dog walk",
                  "my shoes are soaking after every walk, help",
                  "muddy festival field again this year, what should I wear on my feet",
                  "hiking trip soon, what do I get for my feet"],
        "test": ["slush everywhere and my canvas shoes are ruined, need better footwear"]}),
}
BEACH_PHRASES: Pools = {
    "train": ["off to the beach next week, what should I wear",
              "I'm going to the seaside on saturday, can you sort me an outfit",
              "holiday by the pool next month, what should I pack to wear",
              "beach day with friends tomorrow, help me look good",
              "we're going to the coast for the weekend, what should I wear",
              "beach trip!! what do I wear lol",
              "heading to the seaside with the kids, need a look for the day",
              "what should I wear for a day at the beach?",
              "pool party at my mate's on sunday, outfit ideas?",
              "going to a resort by the pool for a week, dress me",
              "tbh I have no idea what to wear to the beach, help",
              "seaside weekend coming up, can you put something together",
              "day trip to the coast tomorrow, what would look good",
              "beach holiday in august, I need outfits for the daytime",
              "could you pick me an outfit for lounging by the pool?",
              "off to an island for a week, what should I wear on the beach",
              "hmm what do people wear to the beach these days",
              "need a beachy outfit for the weekend",
              "we're spending sunday at the seaside, make me look nice",
              "im going to the beach with my gf, what shud i wear",
              "sort me a look for a poolside afternoon please",
              "beach bbq saturday, what do I turn up in",
              "going to the beach after work friday, something easy to wear",
              "outfit for the seaside? going with my family",
              "a week at the coast, I want something nice for the daytime"],
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
                        "the {role} would look better in {color}", "{color} {role} instead?",
                        "could I get the {role} in {color}?", "{role} in {color} pls",
                        "hmm can we try the {role} in {color}", "same {role} but in {color}?",
                        "make the {role} {color}", "do the {role} in {color} instead",
                        "id prefer {color} for the {role}", "switch the {role} to a {color} one please",
                        "have you got the {role} in {color}", "{color} for the {role} would be better tbh",
                        "change the colour of the {role} to {color}", "what about {color} for the {role}?",
                        "the {role} in {color} would work better with my stuff",
                        "could you swap the {role} for {color}", "{role} - {color} instead please",
                        "love it but the {role} in {color} please", "try a {color} {role} instead",
                        "can i get a {color} {role} in there instead", "replace the {role} with a {color} one"],
              "test": ["not feeling that colour on the {role}, got it in {color}?"]},
    "cheaper": {"train": ["something cheaper for the {role}", "the {role} is too pricey, cheaper one?",
                          "can you find a cheaper {role}", "swap the {role} for something less expensive",
                          "the {role} costs too much", "cheaper {role} pls", "the {role} is a bit much, cheaper?",
                          "any cheaper {role}?", "can we do the {role} for less",
                          "hmm the {role} is over my budget, something cheaper",
                          "I can't afford the {role}, what's cheaper", "the {role} is way too expensive",
                          "find me a more affordable {role}", "a cheaper option for the {role} please",
                          "too expensive, the {role}. cheaper one?", "is there a less pricey {role}",
                          "the {role} is too dear, swap it for a cheaper one",
                          "love the look but need a cheaper {role}", "the {role} is out of my price range",
                          "could you swap the {role} for a budget one", "lower priced {role}?",
                          "{role} too expensive lol, cheaper plz", "can the {role} be cheaper",
                          "replace the {role} with something more affordable", "the {role} costs a bomb, cheaper?"],
                "test": ["love it all except the price of the {role}, anything more affordable"]},
    "pricier": {"train": ["a nicer {role}, I don't mind spending more", "upgrade the {role} to something pricier",
                          "can I get a more premium {role}", "the {role} looks a bit cheap, something pricier",
                          "swap the {role} for a more expensive one", "a higher end {role} please",
                          "I'd splurge on the {role}, show me pricier ones", "fancier {role}?",
                          "a luxury {role} instead", "the {role} could be more upmarket",
                          "go more expensive on the {role}", "better quality {role} please, budget isnt an issue",
                          "pricier {role} pls", "can the {role} be more high end", "I want a posher {role}",
                          "upgrade the {role}, happy to pay more", "the {role} is too cheap looking, dearer one?",
                          "show me a premium {role} instead", "hmm a more luxurious {role}?",
                          "swap the {role} for something more upmarket", "I'll spend more on the {role}, options?",
                          "more expensive {role} please", "a higher quality {role} would be better",
                          "can i see a fancier {role}", "the {role} - something pricier tbh"],
                "test": ["treat me to a fancier {role}, money's no object"]},
    "other": {"train": ["I don't like the {role}, other options?", "show me other {role} for this",
                        "not sure about the {role}, what else is there", "swap out the {role}",
                        "can you change the {role}", "different {role} please", "the {role} is not for me, swap it",
                        "hmm not a fan of the {role}", "replace the {role}", "another {role}?",
                        "I'd like a different {role}", "what other {role} would go with this",
                        "swap the {role} for something else", "not keen on the {role}, alternatives?",
                        "the {role} - something else please", "got any other {role} that'd work",
                        "dont love the {role}, switch it", "can we swap the {role} out",
                        "change the {role} please, rest is fine", "everything but the {role} is great, replace it",
                        "the {role} isn't my style, other options", "ugh the {role}, something different pls",
                        "show me a few alternatives for the {role}", "can you find a similar {role}",
                        "is there anything else instead of the {role}"],
              "test": ["the {role} isn't doing it for me"]},
    "casual": {"train": ["the {role} is too formal, something more casual", "a more relaxed {role} please",
                         "make the {role} more casual", "can the {role} be a bit more laid back",
                         "the {role} is too dressy, something casual", "swap the {role} for a casual one",
                         "more chill {role}?", "I want a relaxed {role} instead",
                         "too smart for me, can the {role} be casual", "casual {role} pls",
                         "something more everyday for the {role}", "the {role} needs to be more casual tbh",
                         "less formal {role} please", "the {role} is a bit much, something relaxed",
                         "dress the {role} down, more casual", "hmm a laid-back {role} instead",
                         "can we go casual on the {role}", "i want the {role} more chill",
                         "swap the {role} for an everyday one", "relaxed {role} pls",
                         "more casual {role}?", "too formal - the {role}. casual please",
                         "a comfier, more casual {role}", "easygoing {role} instead", "casual version of the {role}",
                         "the {role} feel too dressy for a lazy sunday, something more relaxed?",
                         "the {role} seem a bit smart for the pub, more casual?",
                         "not sure about the {role}, a bit formal for me, something easier?"],
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
                           "cheapest?", "which is the most affordable of them", "which one's the lowest price",
                           "which is the cheapest out of these", "whats cheapest", "cheapest one pls?",
                           "out of those which costs the least", "hmm which one is least expensive",
                           "tell me which is the cheapest", "lowest price one?", "which would cost me the least",
                           "which of them is cheapest tbh", "of the ones you showed, which is cheapest",
                           "quick q - which one's cheapest", "which is the best price?",
                           "which one is the least money", "cheapest of the lot?", "the cheapest one is which?",
                           "which is lowest priced", "and the cheapest of those is?", "which one costs least",
                           "sorry which one was the cheapest"],
                 "test": ["out of that lot which is kindest on the wallet?"]},
    "priciest": {"train": ["which one is the most expensive?", "which is the priciest", "what's the dearest one",
                           "which of them costs the most", "most expensive one?", "whats the priciest",
                           "which one costs the most money", "which of these is dearest",
                           "hmm which is the most expensive of those", "priciest?",
                           "tell me the most expensive one", "which has the highest price",
                           "out of these which costs most", "which one's the priciest tbh",
                           "the most expensive is which one?", "which is the highest priced",
                           "which costs most", "dearest one?", "the priciest one is?",
                           "which is the most expensive one",
                           "which one would cost me the most", "most expensive of them?", "priciest of the lot?",
                           "which of those is most expensive lol", "and the most expensive?"],
                 "test": ["which one would hurt my bank account the most"]},
    "total": {"train": ["how much is the whole outfit?", "what does it all come to", "total price?",
                        "how much for everything", "add it all up for me", "what would the full look cost",
                        "whats the total", "how much altogether?", "total for the lot?",
                        "what does the whole thing cost", "how much would all of it be",
                        "can you add up the outfit", "how much is everything together",
                        "what's the grand total", "how much is the complete outfit",
                        "add them up pls", "total cost of all of it?", "hmm how much is that all together",
                        "what would I pay for the entire outfit", "how much for the whole look",
                        "what's it come to in total", "sum it up for me, how much",
                        "how much if I buy all of them", "total?", "what's the full outfit cost altogether"],
              "test": ["what's the damage for the complete set"]},
    "stock": {"train": ["is the {ord} one in stock?", "do you still have the {ord} one", "is the {role} available?",
                        "is it in stock", "any of the {ord} one left?", "is that one in stock",
                        "is the {role} in stock?", "do you have the {ord} one in stock", "is it still available?",
                        "{ord} one in stock?", "still got the {role}?", "is the {ord} one sold out",
                        "can I still buy the {role}", "any left of the {ord} one", "is that one available",
                        "is the {role} sold out?", "do you still have it", "hmm is the {ord} one available",
                        "is it out of stock", "can i order the {ord} one or is it sold out",
                        "is the {ord} one available to buy", "still in stock, the {role}?",
                        "any {role} left in stock", "do you have it in stock right now", "is this one available",
                        "are the {ord} ones in stock in a {size}?", "is the {ord} one available in {size}",
                        "do you have the {role} in a {size}", "{ord} one in {size}, in stock?",
                        "got it in a {size}?", "is the {role} in stock in {size}"],
              "test": ["can I actually get hold of the {ord} one right now"]},
    "material": {"train": ["what's the {ord} one made of?", "what material is the {role}", "what fabric is it",
                           "what's the {role} made from", "wht is the {ord} one made of",
                           "what is it made of", "what material is that one", "what's the {role} made of?",
                           "fabric of the {ord} one?", "what is the {ord} one made from",
                           "what material's the {ord} one", "is it made of anything nice? what material",
                           "what's that one made of", "what fabric is the {role}",
                           "material of the {role}?", "what's it made out of", "what is the {role} made out of",
                           "which material is the {ord} one",
                           "what fabric is that one", "what stuff is the {role} made of",
                           "what's the fabric on the {ord} one", "material?", "what is this one made of",
                           "what's the {ord} one made out of", "fabric of the {role} pls"],
                 "test": ["the {ord} one, is that a natural fibre or what"]},
    "brand": {"train": ["what brand is the {ord} one", "who makes the {role}", "which brand is it",
                        "what brand is that one", "who makes it", "brand of the {role}?",
                        "which brand makes the {ord} one", "who's the designer of the {role}",
                        "what's the brand on the {ord} one", "what make is it", "who is the {ord} one made by",
                        "which brand is the {role}", "what brand's that one",
                        "who makes the {ord} one?", "brand?", "what brand is it", "who is the {role} by, brand wise",
                        "the {ord} one - what brand", "what make is the {role}", "what brand is this one",
                        "whos the brand of the {ord} one", "who makes that one", "brand of the {ord} one pls",
                        "which brand is that one", "whats the make of it"],
              "test": ["whose label is on the {ord} one"]},
    "price": {"train": ["how much is the {ord} one?", "what does the {role} cost", "price of the {ord} one?",
                        "how much is it", "how much is that one", "what's the price of the {role}",
                        "how much does the {ord} one cost", "{ord} one price?", "how much was the {role} again",
                        "what does it cost", "price on the {role}?", "how much for the {ord} one",
                        "what's the {role} cost", "how much is that one again", "cost of the {ord} one?",
                        "how much is the {role}?", "price of it?", "what's the price of that one",
                        "how much is this one", "whats the {ord} one cost", "the {role}, how much?",
                        "price for the {ord} one pls", "how much does it cost", "how much does the {role} cost",
                        "what price is the {ord} one"],
              "test": ["what are they asking for the {ord} one"]},
    "sizes": {"train": ["what sizes does the {ord} one come in", "which sizes are available for the {role}",
                        "what sizes are left in the {ord} one", "what size is it available in",
                        "which sizes does that one come in", "what sizes do you have the {role} in",
                        "what sizes is the {ord} one available in", "which size is left in it",
                        "what sizes are available", "sizes left in the {role}?",
                        "which sizes does the {ord} one have left",
                        "what size does it come in", "which sizes is the {role} in", "sizes for the {ord} one?",
                        "what sizes do you have it in", "which sizes are left in that one",
                        "what size is the {ord} one available in", "what sizes does the {role} come in",
                        "which sizes do they come in", "what sizes is this one in", "what sizes is it in",
                        "sizes of the {ord} one pls", "which sizes are available in the {ord} one",
                        "what sizes are left in it", "which size is the {role} available in"],
              "test": ["does the {ord} one go up to my size, what have you got"]},
}
_ORD_WORDS = {1: ["first", "1st"], 2: ["second", "2nd"], 3: ["third", "3rd"], 4: ["fourth", "4th"],
              5: ["fifth", "5th"], 6: ["sixth", "6th"]}
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def ordinal_ref(g: Gen, k: int, n: int) -> str:
    """Return a phrase naming the ``k``-th of ``n`` shown items ("the third one", "number 3", "#3", "the last one")."""
    forms = [f"the {g.pick(_ORD_WORDS[k])} one"] * 3 + [
        f"number {g.pick([str(k), _NUMBER_WORDS[k]])}", f"no. {k}", f"#{k}", f"item {k}", f"option {k}",
        f"the {g.pick(_ORD_WORDS[k])}", f"the {_ORD_WORDS[k][0]} item"]
    if k == 1:
        forms += ["the top one", "the first of them"]
    if k == n and n > 1:
        forms += ["the last one", "the one at the end"]
    return str(g.pick(forms))


def _with_ordinal(g: Gen, tpl: str, k: int, n: int) -> str:
    """Fill ``the {ord} one`` / ``{ord} one`` of a template with a varied reference to the ``k``-th item."""
    ref = ordinal_ref(g, k, n)
    tpl = tpl.replace("the {ord} one", ref)
    return tpl.replace("{ord} one", ref.removeprefix("the "))


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
    if "{size}" in tpl:  # a size is not an argument: the answer lists the sizes in stock
        tpl = tpl.replace("{size}", g.pick(["S", "M", "L", "XL", "size 10", "38", "39", "40", "42", "uk 6"]))
    args: dict[str, Any] = {"about": about}
    view: dict[str, Any] = {"turn": turn, "shown": shown, "last_shown": shown}
    if "{ord}" in tpl:
        k = g.rng.randint(1, min(6, len(shown)))
        tpl = _with_ordinal(g, tpl, k, len(shown))
        args["item_id"] = shown[k - 1].id
    elif "{role}" in tpl:
        cats = [s.category for s in shown]
        piece = g.pick([s for s in shown if cats.count(s.category) == 1] or shown)
        tpl = tpl.replace("{role}", CAT_WORDS[piece.category][0][2])
        args["item_id"] = piece.id
    elif re.search(r"\b(?:it|that one|this one)\b", tpl) and about not in ("cheapest", "priciest", "total"):
        piece = g.pick(shown)
        view["focus_item_id"] = piece.id
        args["item_id"] = piece.id
    return Draft(tpl, _call("question", "answer_about_items", args), view)


#: Changes of one item of a shown list, named by its place in it (``{ref}``: "the second one", "#2").
ORDINAL_CHANGES: dict[str, Pools] = {
    "cheaper": {"train": ["anything cheaper than {ref}?", "{ref} is a bit steep, something cheaper like it",
                          "like {ref} but cheaper", "{ref} is over budget, cheaper alternatives?",
                          "cheaper version of {ref} pls", "something similar to {ref} for less",
                          "{ref} but more affordable?", "hmm {ref} costs too much, anything like it cheaper"],
                "test": ["{ref} is lovely but a bit rich for me, similar for less?"]},
    "pricier": {"train": ["something nicer than {ref}, I can spend more", "a pricier take on {ref}",
                          "{ref} but more premium", "upgrade {ref} to something fancier",
                          "a more upmarket version of {ref}?", "happy to pay more, something like {ref}"],
                "test": ["{ref} but the luxury version"]},
    "color": {"train": ["{ref} but in {color}?", "do you have {ref} in {color}", "same as {ref} in {color} pls",
                        "{ref} in {color} instead", "something like {ref} but {color}",
                        "love {ref}, got it in {color}?", "{color} version of {ref}?"],
              "test": ["{ref} would be perfect if it came in {color}"]},
    "other": {"train": ["more like {ref}", "show me things similar to {ref}", "alternatives to {ref}?",
                        "I like {ref}, anything else like it", "similar to {ref} please",
                        "more in the style of {ref}", "what else is like {ref}", "others like {ref}?"],
              "test": ["{ref} is the vibe, find me its cousins"]},
}


def g_ordinal(g: Gen, split: str) -> Draft:
    """Draw a change of one item of the list shown last, named by its place ("the second one", "number 2")."""
    turn = g.rng.randint(1, 6)
    cat, _ = g.category()
    shown = g.shown(g.result_items(cat), turn - 1, "search_catalog")
    k = g.rng.randint(1, min(6, len(shown)))
    piece = shown[k - 1]
    change = g.pick(sorted(ORDINAL_CHANGES))
    tpl = _pool(g, ORDINAL_CHANGES[change], split)
    args: dict[str, Any] = {"item_id": piece.id}
    slot = {"ref": ordinal_ref(g, k, len(shown))}
    if change == "color":
        c, w = g.color(avoid=[piece.color])
        slot["color"], args["color"] = w, c
    elif change in ("cheaper", "pricier"):
        args[change] = True
    text = tpl.format(**slot)
    text = text[0].upper() + text[1:] if g.chance(0.3) else text
    view = {"turn": turn, "shown": shown, "last_shown": shown}
    return Draft(text, _call("find_alternatives", "find_alternatives", args), view)


# --------------------------------------------------------------------------------------------------
# Conversation moves
# --------------------------------------------------------------------------------------------------

MOVES: dict[str, Pools] = {
    "thanks": {"train": ["thanks!", "cheers, that's great", "thank you so much", "ta", "thx, perfect",
                         "brilliant, thanks a lot", "lovely, thank you", "ty", "thanks that's really helpful",
                         "amazing thank u", "perfect thanks", "great, cheers", "oh nice, thanks",
                         "thank you!! love them", "thanks a million", "cool thx", "that's great, ta very much",
                         "awesome, thanks", "much appreciated", "nice one, thanks", "thank you, very helpful",
                         "ok thanks", "super, thank you", "cheers mate", "thanks lol that's exactly it"],
               "test": ["you're a star, appreciated"]},
    "bye": {"train": ["bye!", "ok bye for now", "that's all I needed, bye", "see you later", "laters",
                      "that's everything, goodbye", "bye bye", "ok cya", "goodbye and thanks",
                      "I'll leave it there, bye", "gotta go, bye", "that's it for today, bye",
                      "ttyl", "see ya", "night!", "ok that's me done, bye", "bye for now",
                      "catch you later", "alright, goodbye", "I'm done for now, see you",
                      "that'll do for today, cheers bye", "have a good one, bye", "later!",
                      "thats all, see u", "ok logging off now bye"],
            "test": ["right, I'm off, speak soon"]},
    "never_mind": {"train": ["never mind", "forget it", "nevermind, I'll think about it", "oh never mind",
                             "actually forget it", "nvm", "ah never mind then", "forget I asked",
                             "nah leave it", "doesn't matter", "never mind, it's fine",
                             "actually no, forget it", "hmm nvm", "ignore that", "don't worry about it",
                             "leave it for now", "on second thoughts, never mind", "forget about it lol",
                             "it's ok, never mind", "never mind, not important", "no worries, forget it",
                             "ignore me", "actually don't bother", "oh forget it then", "nevermind tbh"],
                   "test": ["scratch that, not bothered anymore"]},
    "back": {"train": ["go back to the previous ones", "show me the ones from before again",
                       "the earlier ones were better, bring them back", "can I see the first lot again",
                       "go back to those", "show me the previous results again", "back to the last ones please",
                       "can we go back", "the ones before were nicer, show them again",
                       "bring back the earlier ones", "go back one", "previous ones pls",
                       "can I see the earlier results", "hmm the last lot was better, go back",
                       "show the earlier list again", "back to the ones before", "go back to the other ones",
                       "take me back to the previous list", "I liked the earlier ones more, show me them",
                       "can you show the last ones again", "show me the stuff from before",
                       "wait go back", "let me see the previous ones again", "return to the earlier results",
                       "the previous ones please"],
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
    if g.chance(0.5):  # thanks / bye / never mind after an outfit as often as after a list
        outfit = g.shown(g.outfit_items(), turn - 1, "recommend_outfit")
        view = {"turn": turn, "shown": [*first, *outfit], "last_shown": outfit, "outfits": [[s.id for s in outfit]]}
    return Draft(text, Plan(intent="small_talk"), view)


#: Another outfit after one was shown: ``{style}`` a style word, ``{occasion}`` an occasion phrase.
ANOTHER_OUTFIT: Pools = {
    "train": ["can you do another one but {style}", "another outfit, more {style} this time",
              "not feeling it, something more {style}?", "different look please, {style} for {occasion}",
              "give me another outfit for {occasion}", "hmm can I see a different one for {occasion}",
              "another one but a bit more {style}", "try again but {style}", "a second option for {occasion}?",
              "ok now a {style} one for {occasion}", "could you do one for {occasion} as well",
              "nice, and another look that's more {style}", "same idea but {style} please",
              "now one for {occasion} pls", "can you put together another one, {style} this time",
              "I'd like a different outfit, more {style}", "do another for {occasion}?",
              "one more look, {style}, for {occasion}"],
    "test": ["love it, now do me a {style} version for {occasion}"],
}


def g_another_outfit(g: Gen, split: str) -> Draft:
    """Draw a request for another outfit after one was shown (a new ``recommend_outfit``, not alternatives)."""
    turn = g.rng.randint(1, 6)
    outfit = g.shown(g.outfit_items(), turn - 1, "recommend_outfit")
    tpl = _pool(g, ANOTHER_OUTFIT, split)
    args: dict[str, Any] = {}
    slot: dict[str, str] = {}
    _occasion_and_style(g, tpl, args, slot)
    view = {"turn": turn, "shown": outfit, "last_shown": outfit, "outfits": [[s.id for s in outfit]]}
    return Draft(tpl.format(**slot), _call("recommend_outfit", "recommend_outfit", args), view)


#: Back to an earlier outfit after two or three were shown: ``{ord}`` "first", "second".
OUTFIT_BACK: Pools = {
    "train": ["actually I preferred the {ord} outfit", "go back to the {ord} outfit", "show me the {ord} look again",
              "the {ord} outfit was better, bring it back", "can I see the {ord} outfit again",
              "hmm the {ord} one was nicer, the outfit I mean", "back to the {ord} outfit please",
              "I liked the {ord} look more", "what was the {ord} outfit again?", "let me see the {ord} outfit",
              "take me back to the {ord} look", "the {ord} outfit please, I've changed my mind",
              "on reflection the {ord} look was best", "bring back the {ord} outfit"],
    "test": ["you know what, the {ord} ensemble was the winner"],
}


def g_outfit_back(g: Gen, split: str) -> Draft:
    """Draw a move back to an earlier outfit by its place (``recall_outfit index``), with the latest one shown."""
    turn = g.rng.randint(3, 7)
    outfits = [g.shown(g.outfit_items(), turn - n, "recommend_outfit") for n in range(g.rng.randint(2, 3), 0, -1)]
    k = g.rng.randint(1, len(outfits) - 1)
    text = _pool(g, OUTFIT_BACK, split).format(ord=g.pick(_ORD_WORDS[k]))
    view = {"turn": turn, "shown": [s for o in outfits for s in o], "last_shown": outfits[-1],
            "outfits": [[s.id for s in o] for o in outfits]}
    return Draft(text, _call("history", "recall_outfit", {"index": k}), view)


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
              "{color} {cats} sz {size} under {price}", "{color} {cats} u{price}", "{cats}, {color}, <{price}",
              "{color} {cats} max {price} thx", "got {color} {cats} under {price}?", "{color} {cats} below {price}",
              "lf {color} {cats} under {price}", "{cats} {color} {price} max pls", "{color} {cats}!! under {price}",
              "wtb {color} {cats}, max {price}", "{color} {cats} size {size}, up to {price}",
              "{color} {cats} <{price} sz {size}", "{cats} in {color} pls, max {price}",
              "{color} {cats} no more than {price}", "cheap {color} {cats} under {price}",
              "{color} {cats} for less than {price}", "{cats}?? {color}, under {price}",
              "{color} {cats}, budget {price}, size {size}", "{color} {cats} <= {price}",
              "ISO {color} {cats} under {price}", "{color} {cats} pls!! max {price} tbh"],
    "test": ["{cats} - {color} - sub {price} thx"],
}
RAMBLE_VOICES: Pools = {
    "train": ["ok so long story short, {req}",
              "I've been meaning to sort my wardrobe out for ages and never get round to it, anyway {req}",
              "my sister keeps telling me I dress like a student lol, {req}",
              "so I had a look around town yesterday and found nothing I liked, {req}, if that makes sense",
              "bit of a random one but {req}. thanks in advance!",
              "hi, hope you're well! I'm having a bit of a crisis, {req}",
              "{req}. sorry for the essay, I'm terrible at shopping",
              "hiya, so basically I spilled coffee all over my favourite thing this morning, {req}",
              "right, I've just moved house and half my stuff is still in boxes somewhere, {req}",
              "ugh my mum says my clothes are all too old so here I am lol. {req}",
              "morning! quick one, though it might turn into a long one haha, {req}",
              "I never know what suits me and I always end up buying the same thing, so {req}",
              "hmm where to start. I've lost a bit of weight and nothing fits properly. {req}",
              "so my friend recommended this app and I thought why not. {req}, cheers",
              "sorry if this is a silly question, I'm new here. {req}",
              "tbh I hate shopping in person, the changing rooms are awful, so {req}",
              "just got paid so treating myself a bit. {req}",
              "ok this might sound weird but I've had a really long week and {req}",
              "hello! my partner and I are trying to sort our wardrobes out this weekend and {req}",
              "{req} - I've been looking for ages and can't find anything decent in the shops",
              "long day at work and I can't be bothered going into town, so {req}",
              "hi there, I'm not great with fashion stuff but I'm trying. {req}",
              "{req}. half my clothes are falling apart so time for new stuff lol",
              "so yeah, birthday money burning a hole in my pocket, {req}",
              "apologies for the ramble, I'm a bit indecisive. basically {req}"],
    "test": ["honestly I'm hopeless at this stuff and my partner has given up on me, so {req}, no pressure"],
}

def g_short(g: Gen, split: str) -> Draft:
    """Draw shorthand, typos and symbols: a search with a colour, a category and a price cap."""
    cat, words = g.category()
    color = g.pick(sorted(SHORT_COLORS))
    price = g.pick([30, 40, 50, 60, 80, 100, 150])
    tpl = _pool(g, SHORT_FORMS, split)
    while cat == "bag" and "{size}" in tpl:  # bags have no size
        tpl = _pool(g, SHORT_FORMS, split)
    # shoes come in numbered sizes, clothes in letters
    size = g.pick(["37", "38", "39", "40", "42"] if cat in FOOTWEAR else ["S", "M", "L", "XS", "XL"])
    text = tpl.format(color=g.pick(SHORT_COLORS[color]), cats=words[1], price=price, size=size)
    args: dict[str, Any] = {"categories": [cat], "colors": [color], "max_price": float(price)}
    if "{size}" in tpl:
        args["sizes"] = [size]
    return Draft(text, _call("search", "search_catalog", args), {"turn": g.rng.randint(0, 4)})


def g_ramble(g: Gen, split: str) -> Draft:
    """Draw a long message with the request buried in it: a search or an outfit for an occasion."""
    voice = _pool(g, RAMBLE_VOICES, split)
    if g.chance(0.55):
        cat, words = g.category()
        args: dict[str, Any] = {"categories": [cat]}
        req = g.pick(["I need a {w}", "could you find me a {w}", "I'm after a {w}", "have you got a {w}",
                      "I really need a new {w}", "can you help me find a {w}", "I want to buy a {w}",
                      "what I actually need is a {w}", "I'm looking for a {w}"]).format(
            w=words[0])
        if g.chance(0.5):
            p = g.pick([40, 60, 80, 100, 120])
            req += g.pick([f" for under {p}", f", nothing over {p}", f" (budget about {p})"])
            args["max_price"] = float(p)
        plan = _call("search", "search_catalog", args)
    else:
        occ, phrase = g.occasion()
        req = g.pick(["could you put an outfit together for {o}", "I need something to wear for {o}",
                      "help me with a look for {o}", "I've got {o} coming up and need an outfit",
                      "what should I wear to {o}", "can you dress me for {o}",
                      "I need a whole look for {o}"]).format(o=phrase)
        plan = _call("recommend_outfit", "recommend_outfit", {"occasion": occ})
    return Draft(voice.format(req=req), plan, {"turn": g.rng.randint(0, 4)})


# --------------------------------------------------------------------------------------------------
# Outfits: life events that imply an occasion, and plain outfit requests
# --------------------------------------------------------------------------------------------------

#: Occasion -> phrasings {train, test} of a life event or situation that calls for it. Every phrasing names
#: the situation in words the vocabulary (or the needs table) grounds, so the plan survives the checks.
OCCASION_EVENTS: dict[str, Pools] = {
    "wedding": {"train": ["my best mate is getting married in june, what do I wear to the wedding",
                          "I'm a wedding guest for the first time in years, help",
                          "cousin's getting hitched next month and I've nothing for the ceremony",
                          "wedding invite just landed for september, what should I wear",
                          "my brother's wedding is in three weeks and I'm panicking",
                          "what do you wear to a summer wedding these days?",
                          "i've got 2 weddings this year lol, sort me a look"],
                 "test": ["save the date came through for my uni friend's wedding by the lake, ideas for a guest"]},
    "work": {"train": ["starting a new job monday, what should I wear",
                       "first week at the new job and I want to look the part",
                       "got promoted at work, time to dress like it",
                       "back to work after maternity leave, nothing fits my job anymore",
                       "new job in a bank next week, help me look sharp",
                       "i need stuff for work, just started somewhere new",
                       "we're going back to the office three days a week, what do I wear",
                       "the office reopens next week and I've lived in joggers for a year",
                       "need a look for the office, they've brought back a dress code",
                       "work moved us to a fancy new building, I need to up my game",
                       "first day in the office since lockdown lol, what do I wear"],
             "test": ["onboarding at the firm on the 3rd, what do people wear to work there",
                      "hybrid working is over and it's five days in the office from now on, kit me out"]},
    "run": {"train": ["I'm training for my first 10k run, what should I wear",
                      "just started running in the mornings, kit me out",
                      "going for a run after work, what do I wear",
                      "signed up for a charity run in may, need an outfit",
                      "marathon training starts next week, what running gear do I need",
                      "taking up jogging again, sort me an outfit"],
            "test": ["couch to 5k starts tomorrow, dress me for the run"]},
    "meeting": {"train": ["I'm presenting to the board on thursday, what do I wear to the presentation",
                          "big client meeting tomorrow, help",
                          "got a meeting with investors next week, what should I wear",
                          "pitching to a new client on friday, outfit for the meeting?",
                          "team offsite with a presentation from me, what do I wear"],
                "test": ["quarterly review with the directors, my presentation is at 10"]},
    "conference": {"train": ["giving a talk at a conference next month, what should I wear",
                             "work is sending me to a conference in berlin, help me pack",
                             "three day conference coming up, need outfits",
                             "networking at a conference on tuesday, want to look professional",
                             "my first conference as a speaker, eek, what do I wear"],
                   "test": ["speaking on a panel at the trade conference, need to look credible"]},
    "school": {"train": ["exam season at university, I just want something comfy for class",
                         "starting college in september, what do I wear on campus",
                         "first day back at uni, need something for class",
                         "freshers week at university soon, help me look cool",
                         "back to school next week, outfit ideas for class"],
               "test": ["lectures start again on monday and I've got nothing for campus"]},
    "travel": {"train": ["long flight on friday, what should I wear",
                         "city break next week, what do I wear at the airport",
                         "got a 12 hour flight coming up, comfy outfit please",
                         "early flight tomorrow, what's good to travel in",
                         "travelling for work all week, need something for the flight"],
               "test": ["red-eye flight to new york on sunday, dress me for the plane"]},
    "party": {"train": ["night out with the girls on saturday, what should I wear",
                        "it's my birthday next week and we're going out, help",
                        "drinks with the team friday night, outfit?",
                        "going clubbing for my mate's birthday, sort me out",
                        "my 30th birthday party is coming up, what do I wear",
                        "work christmas party next week, need a look",
                        "big night out in town tomorrow, what should I wear"],
              "test": ["hen party in the city next month, we're hitting the bars"]},
    "interview": {"train": ["got an interview on tuesday, what should I wear",
                            "job interview at a law firm next week, help me look the part",
                            "second round interview tomorrow, what do I wear",
                            "I've finally got an interview, what's appropriate"],
                  "test": ["they want me in for a second interview on monday, what do I turn up in"]},
    "funeral": {"train": ["my grandad's funeral is on friday, what should I wear",
                          "going to a memorial service next week, need something appropriate",
                          "funeral for a friend's dad, I don't own anything suitable",
                          "sadly have a funeral to go to next week, what's respectful"],
                "test": ["paying my respects at a funeral on monday, what's appropriate to put on"]},
    "graduation": {"train": ["my graduation is in july, what do I wear under the gown",
                             "my daughter's graduation next month, I want to look nice",
                             "graduation ceremony soon and I have nothing, help",
                             "finally graduating!! what to wear to graduation", "going to my son's graduation"],
                   "test": ["caps are being thrown at my graduation next week, dress the proud graduate"]},
    "date": {"train": ["I've got a first date on friday, help", "date night with my husband saturday, what do I wear",
                       "going on a date tomorrow, kinda nervous, what should I wear",
                       "anniversary date next week, dress me up",
                       "matched with someone and we're meeting for a date thursday, outfit?"],
             "test": ["first date with someone from the apps, want to look good but not try-hard"]},
    "dinner": {"train": ["meeting my partner's parents at a restaurant, what do I wear",
                         "fancy dinner for my mum's birthday on sunday, what should I wear",
                         "booked a nice restaurant for our anniversary, outfit please",
                         "dinner with clients on wednesday, help"],
               "test": ["we've got a table at that michelin restaurant on saturday"]},
    "gym": {"train": ["I've just joined a gym, what should I wear", "starting yoga classes next week, need an outfit",
                      "new year new me, going to the gym, kit me out",
                      "workout clothes please, I'm starting a bootcamp",
                      "personal training session tomorrow, what do I wear"],
            "test": ["signed up for yoga at the leisure centre, what do I show up in"]},
    "hike": {"train": ["going hiking in the lakes this weekend, what should I wear",
                       "walk in the countryside with my family sunday, outfit?",
                       "first proper hike next month, what do I wear",
                       "hiking up snowdon with mates, what should I wear", "weekend hike with the walking group"],
             "test": ["tackling a fell hike with the walking club, what goes under the waterproofs"]},
    "festival": {"train": ["got tickets to a festival in july, what should I wear",
                           "festival season is here, sort me out",
                           "camping at a festival for 3 days, outfit ideas",
                           "first festival ever next month lol what do people wear", "festival in august, help"],
                 "test": ["glastonbury-style festival weekend in a field, dress me head to toe"]},
    "concert": {"train": ["going to a gig on friday, what should I wear",
                          "concert tickets for saturday, what do people wear to those",
                          "seeing my favourite band live at a concert next week, help",
                          "got a gig in a tiny venue saturday, outfit?", "off to a concert in the park tomorrow"],
                "test": ["front row at an arena concert, what gets me noticed"]},
    "theatre": {"train": ["taking my mum to the theatre, what should I wear",
                          "got tickets to the opera, I've never been, what do I wear",
                          "ballet on saturday night, help me look nice",
                           "first time at the opera house next week",
                           "first play at the theatre in years, what do I wear"],
                "test": ["matinee at the theatre with my aunt, what would suit the stalls"]},
    "brunch": {"train": ["lunch with the girls on sunday, what should I wear",
                         "meeting my sister for coffee tomorrow, outfit?",
                         "brunch with friends this weekend, something nice",
                         "lunch with my gran on sunday, something nice", "grabbing coffee with an old friend"],
               "test": ["bottomless brunch booked for the birthday girl... and I'm clueless"]},
    "weekend": {"train": ["I've got a day off tomorrow, want something nice to wear",
                          "lazy saturday plans, dress me", "what should I wear on my day off",
                          "weekend away with my partner, chill plans", "sunday at the farmers market, outfit?"],
                "test": ["pottering about on sunday, farmers market and that, clothe me"]},
    "holiday": {"train": ["going on holiday next month, need outfits", "holiday to spain soon, what should I pack",
                          "off on holiday next week and nothing to wear!", "summer holidays soon, sort my outfits"],
                "test": ["two weeks of holiday in greece booked, capsule wardrobe please"]},
    "vacation": {"train": ["road trip with my friends next week, what should I wear",
                           "going on a trip to italy, help me pack",
                           "trip to paris with the girls, help", "trip to the lakes next month, what do I pack"],
                 "test": ["interrail trip around europe next month, what packs small and still looks good"]},
}
#: Whole-outfit budgets the message reader takes as ``max_total`` ({t} is the amount).
TOTAL_PHRASES: Pools = {
    "train": ["I've got {t} for the whole thing", "{t} all in", "{t} total", "budget of {t} for everything",
              "{t} altogether", "{t} for the full outfit", "spend {t} max on the whole outfit", "{t} in total",
              "total budget {t}", "can only spend {t} on the whole look", "no more than {t} for everything",
              "{t} for the lot altogether"],
    "test": ["the entire getup can't go past {t} in total"],
}
PER_ITEM_PHRASES: Pools = {
    "train": ["under {p} each", "nothing over {p} per item", "max {p} a piece", "no more than {p} each",
              "each bit under {p}", "below {p} per item"],
    "test": ["every piece sub {p}"],
}
STYLE_TAILS: Pools = {
    "train": [", something {w}", ", I'd like it {w}", " - {w} please", ", keep it {w}", ", going for {w}",
              ". {w} vibe", ", {w} if possible"],
    "test": [", the brief is {w}"],
}


def _outfit_extras(g: Gen, split: str, text: str, args: dict[str, Any], occasion: str | None,
                   style: bool = True) -> str:
    """Add a style (when ``style``), a per-item cap or a whole-outfit budget to an outfit request (each sometimes)."""
    if style and g.chance(0.3):
        s = g.pick(list(OCCASIONS[occasion])) if occasion else g.pick(sorted(STYLE_WORDS))
        w = g.pick(STYLE_WORDS[s])
        text += _pool(g, STYLE_TAILS, split).format(w=w)
        args["style"] = s
    roll = g.rng.random()
    if roll < 0.2:
        p = g.pick([40, 50, 60, 80, 100])
        text += ", " + _pool(g, PER_ITEM_PHRASES, split).format(p=p)
        args["max_price"] = float(p)
    elif roll < 0.45:
        t = g.pick([120, 150, 200, 250, 300, 400])
        text += ", " + _pool(g, TOTAL_PHRASES, split).format(t=t)
        args["max_total"] = float(t)
    return text


def g_occasion_indirect(g: Gen, split: str) -> Draft:
    """Draw a life event or situation that implies an occasion (recommend_outfit), maybe with style or budget."""
    occasion = g.pick([o for o in sorted(OCCASION_EVENTS) if OCCASION_EVENTS[o][split]])
    text = _pool(g, OCCASION_EVENTS[occasion], split)
    args: dict[str, Any] = {"occasion": occasion}
    text = _outfit_extras(g, split, text, args, occasion)
    return Draft(text, _call("recommend_outfit", "recommend_outfit", args), {"turn": g.rng.randint(0, 4)})


#: Everyday occasion phrases beyond the base build's (canonical occasion, phrase).
EVERYDAY_OCCASIONS: list[tuple[str, str]] = [
    ("weekend", "the weekend"), ("weekend", "saturday"), ("weekend", "my day off"), ("brunch", "lunch with friends"),
    ("brunch", "coffee with my mum"), ("brunch", "sunday brunch"), ("party", "a night out"),
    ("party", "drinks on friday"), ("party", "a birthday do"), ("work", "work"), ("work", "my job"),
    ("work", "the office"), ("date", "date night"), ("dinner", "a nice restaurant"), ("travel", "a long flight"),
    ("school", "college"), ("school", "my university classes"), ("concert", "a gig"), ("gym", "the gym"),
    ("run", "a run"),
    ("theatre", "the theatre"), ("hike", "a hike"), ("holiday", "my holiday"), ("festival", "a festival"),
]
OUTFIT_FORMS: Pools = {
    "train": ["{style} look for {occasion}", "something {style} for {occasion}", "can you put together a {style} "
              "outfit for {occasion}", "what should I wear to {occasion}", "need an outfit for {occasion}",
              "outfit for {occasion} pls", "dress me for {occasion}", "help me with a look for {occasion}?",
              "i want to look {style}, any outfit ideas", "a {style} outfit please", "something {style} to wear",
              "put a {style} outfit together for me", "outfit ideas for {occasion}? nothing too fancy",
              "what would you wear to {occasion}", "could you style me for {occasion}",
              "I need a {style} look for {occasion}", "sort me an outfit for {occasion} tbh",
              "{occasion} outfit?", "hmm what to wear for {occasion}, {style} ideally",
              "style me something {style}", "any ideas for {occasion}? want to look {style}",
              "a full look for {occasion}, please", "put me in something {style} for {occasion}",
              "give me a {style} outfit", "what goes together for {occasion}"],
    "test": ["curate an ensemble for {occasion} - {style} is the mood"],
}
OUTFIT_TAILS: Pools = {
    "train": [" in {color}", ", mostly {color}", ", {color} if you can", ", nothing {nocolor}", ", no {nocolor} pls",
              ", avoid {nocolor}", ", with a {withcat}", ", include a {withcat}",
              ", and make sure there's a {withcat}"],
    "test": [", {color} palette", ", {nocolor} is a no-go", ", and a {withcat} in the mix"],
}


def _occasion_and_style(g: Gen, tpl: str, args: dict[str, Any], slot: dict[str, str]) -> str | None:
    """Fill a template's ``{occasion}`` and ``{style}`` (a style that suits the occasion) into ``slot`` and ``args``.

    Returns the occasion drawn (None when the template has none).
    """
    occasion = None
    if "{occasion}" in tpl:
        occasion, slot["occasion"] = g.pick(EVERYDAY_OCCASIONS) if g.chance(0.5) else g.occasion()
        args["occasion"] = occasion
    if "{style}" in tpl:
        s = g.pick(list(OCCASIONS[occasion])) if occasion else g.pick(sorted(STYLE_WORDS))
        slot["style"] = g.pick(STYLE_WORDS[s])
        args["style"] = s
    return occasion


def g_outfit_plain(g: Gen, split: str) -> Draft:
    """Draw a plain outfit request with a style and/or an occasion and maybe colours, a piece or a budget."""
    tpl = _pool(g, OUTFIT_FORMS, split)
    args: dict[str, Any] = {}
    slot: dict[str, str] = {}
    occasion = _occasion_and_style(g, tpl, args, slot)
    text = tpl.format(**slot)
    if g.chance(0.35):
        tail = _pool(g, OUTFIT_TAILS, split)
        if "{color}" in tail:
            c, w = g.color()
            tail, args["colors"] = tail.format(color=w), [c]
        elif "{nocolor}" in tail:
            c, w = g.color()
            tail, args["exclude_colors"] = tail.format(nocolor=w), [c]
        else:
            c, words = g.category(("coat", "bag", "dress", "sneakers", "ankle_boots", "pullover"))
            tail, args["include_categories"] = tail.format(withcat=words[0].removeprefix("pair of ")), [c]
        text += tail
    if "style" not in args or g.chance(0.5):
        text = _outfit_extras(g, split, text, args, occasion, style="style" not in args)
    return Draft(text, _call("recommend_outfit", "recommend_outfit", args), {"turn": g.rng.randint(0, 4)})


# --------------------------------------------------------------------------------------------------
# Plain searches and "show me more"
# --------------------------------------------------------------------------------------------------

SEARCH_FORMS: Pools = {
    "train": ["got any {color} {cats}", "looking for a {cat}", "need new {cats}, {color} if poss",
              "do you have {cats}?", "I'm after some {color} {cats}", "any {cats} in {color}?",
              "show me {cats}", "{color} {cats} please", "can you find me a {color} {cat}",
              "i want a {cat}", "have you got any {cats} in stock", "hmm I need a new {cat} tbh",
              "on the hunt for {color} {cats}", "need a {cat} that goes with everything", "what {cats} do you have",
              "any nice {cats}?", "could I see some {color} {cats}", "help me find a {cat}",
              "lookin for {cats}", "I could do with a new {cat}", "{cats}? {color} ones ideally",
              "my old {cat} died, need a replacement", "show me what {cats} you've got", "got {cats}?",
              "pls find me {color} {cats}"],
    "test": ["in the market for {cats}, something in {color}"],
}
SEARCH_TAILS: Pools = {
    "train": [" under {p}", ", nothing over {p}", ", max {p}", ", budget {p}", " for less than {p}",
              ", no more than {p}", " below {p}", ", up to {p}"],
    "test": [", {p} tops"],
}


def g_search_plain(g: Gen, split: str) -> Draft:
    """Draw an everyday single-item search: a category, maybe a colour, a price cap or a colour to avoid."""
    tpl = _pool(g, SEARCH_FORMS, split)
    cat, words = g.category()
    args: dict[str, Any] = {"categories": [cat]}
    slot = {"cat": words[0], "cats": words[1]}
    if "{color}" in tpl:
        c, w = g.color()
        slot["color"], args["colors"] = w, [c]
    text = tpl.format(**slot)
    if g.chance(0.4):
        p = g.pick([30, 40, 50, 60, 80, 100, 120, 150])
        text += _pool(g, SEARCH_TAILS, split).format(p=p)
        args["max_price"] = float(p)
    if "colors" not in args and g.chance(0.15):
        c, w = g.color()
        text += g.pick([f", not {w}", f", anything but {w}", f", no {w}"])
        args["exclude_colors"] = [c]
    return Draft(text, _call("search", "search_catalog", args), {"turn": g.rng.randint(0, 4)})


#: "Show me more" with nothing to be like, after a search: that search again, leaving out what was shown
#: (``search_catalog more``; every phrasing matches :data:`agent.understanding.cues.MORE_RESULTS_RE`).
MORE_PHRASES: Pools = {
    "train": ["show me more", "any others?", "more please", "got any more?", "what else have you got",
              "more of these pls", "give me more options", "more options please", "what else is there",
              "any more?", "more?", "show me some more", "can you show me more", "ok more please",
              "got any others?", "have you got any more", "next page", "show me the next ones", "keep them coming",
              "more results please", "what else do you have", "any more options?", "i want more", "some more pls",
              "more pls"],
    "test": ["can i see a few more?"],
}
#: "More like that one", "anything similar?" after a search: alternatives to the item in focus.
LIKE_PHRASES: Pools = {
    "train": ["more like that", "more like this one", "show me more like it", "any more like that?",
              "similar ones?", "anything similar?", "show me similar", "can I see more like that",
              "more like that one please", "any alternatives?", "show me some alternatives", "ooh more like that",
              "got anything similar", "other options?", "can you show me others like it"],
    "test": ["keep them coming, in that vein"],
}


def g_show_more(g: Gen, split: str) -> Draft:
    """Draw "show me more" after a search: that search again with ``more``, or alternatives to the focus item.

    "got any more?" has nothing to be like (``MORE_PHRASES``); "more like that one" does (``LIKE_PHRASES``).
    """
    turn = g.rng.randint(2, 6)
    cat, words = g.category()
    shown = g.shown(g.result_items(cat), turn - 1, "search_catalog")
    focus = g.pick(shown)
    history = [{"role": "user", "content": g.pick([f"show me {words[1]}", f"any {words[1]}?",
                                                   f"looking for {words[1]}"])},
               {"role": "assistant", "content": f"Here are {len(shown)} {words[1]} I found."}]
    view = {"turn": turn, "history": history, "shown": shown, "last_shown": shown, "focus_item_id": focus.id}
    if g.chance(0.5):
        return Draft(_pool(g, MORE_PHRASES, split),
                     _call("search", "search_catalog", {"categories": [cat], "more": True}), view)
    return Draft(_pool(g, LIKE_PHRASES, split), _call("find_alternatives", "find_alternatives", {"item_id": focus.id}),
                 view)


# --------------------------------------------------------------------------------------------------
# After a search: refining it, a new search, two requests in one message, off-topic asks
# --------------------------------------------------------------------------------------------------

#: A change to the search just shown ("in grey maybe", "no leather please"): the same search, one filter changed.
REFINES: dict[str, Pools] = {
    "color": {"train": ["in {color} maybe", "what about in {color}", "any in {color}?", "{color} ones?",
                        "got them in {color}?", "hmm, {color} instead?", "and in {color}?", "do they come in {color}",
                        "same but {color}", "{color} would be better", "anything {color}?", "could I see {color} ones",
                        "ooh have you got {color}", "prefer {color} tbh", "what about {color} ones", "{color}?",
                        "can I see these in {color}", "any {color} options", "nicer in {color} I think, got any?"],
              "test": ["these but in a {color} shade"]},
    "nomaterial": {"train": ["no {m} please", "nothing {m} though", "not {m} please", "I'd rather avoid {m}",
                             "any that aren't {m}?", "without {m} pls", "can you leave out the {m} ones",
                             "hmm no {m}", "none in {m} please", "not keen on {m}, others?", "no {m} ones pls",
                             "skip the {m} ones"],
                   "test": ["anything {m} is out for me, what's left"]},
    "price": {"train": ["any of those under {p}?", "under {p} though", "hmm too pricey, max {p}", "keep it under {p}",
                        "nothing over {p} please", "only ones below {p}", "{p} max pls", "can you do them under {p}",
                        "budget is {p} for these", "any for less than {p}?"],
              "test": ["{p} is my ceiling for these"]},
    "material": {"train": ["any in {m}?", "{m} ones?", "do you have them in {m}", "what about {m}", "I'd prefer {m}",
                           "got any made of {m}", "{m} would be nicer", "any {m} ones"],
                 "test": ["I'm after a {m} version of these"]},
}
_NOMATERIAL_REASONS = {"leather": [", I'm vegan", ", vegan here"], "suede": [", I'm vegan"],
                       "wool": [", it makes me itch", ", too itchy"], "polyester": [", it makes me sweat"]}


def g_refine(g: Gen, split: str) -> Draft:
    """Draw a change of one filter of the search just shown: the same search with that filter changed."""
    turn = g.rng.randint(2, 6)
    cat, words = g.category()
    c0, w0 = g.color() if g.chance(0.5) else (None, "")
    p0 = g.pick([40, 50, 60, 80, 100, 150]) if g.chance(0.35) else None
    shown = g.shown(g.result_items(cat, color=c0), turn - 1, "search_catalog")
    ask = g.pick([f"show me {w0} {words[1]}", f"any {w0} {words[1]}?", f"looking for {w0} {words[1]}",
                  f"I need {w0} {words[1]}"]).replace("  ", " ")
    if p0 is not None:
        ask += f" under {p0}"
    history = [{"role": "user", "content": ask},
               {"role": "assistant", "content": f"Found {len(shown)} item(s). {_listing(shown)}"}]
    change = g.pick(sorted(REFINES))
    tpl = _pool(g, REFINES[change], split)
    args: dict[str, Any] = {"categories": [cat], "colors": [c0] if c0 else None, "max_price": p0}
    slot: dict[str, Any] = {}
    if change == "color":
        c, w = g.color(avoid=[c0] if c0 else [])
        slot["color"], args["colors"] = w, [c]
    elif change in ("nomaterial", "material"):
        m = g.pick(["leather", "wool", "polyester", "suede", "cotton", "linen", "denim"])
        slot["m"] = m
        args["exclude_materials" if change == "nomaterial" else "materials"] = [m]
        if change == "nomaterial" and m in _NOMATERIAL_REASONS and g.chance(0.5):
            tpl += g.pick(_NOMATERIAL_REASONS[m])
    else:
        p = g.pick([30, 40, 50, 60, 80] if p0 is None else [x for x in (30, 40, 50, 60) if x < p0] or [30])
        slot["p"], args["max_price"] = g.money(p) if g.chance(0.3) else str(p), float(p)
    view = {"turn": turn, "history": history, "shown": shown, "last_shown": shown}
    return Draft(tpl.format(**slot), _call("search", "search_catalog", args), view)


#: A new search while other results are shown ("do you have any red handbags?", "and chinos to go with?").
NEW_SEARCHES: Pools = {
    "train": ["ah ok no worries. do you have any {color} {cats}?", "and {cats} to go with?", "cool, now I need {cats}",
              "also looking for {color} {cats}", "show me some {color} {cats}", "ok next, {cats}",
              "different thing - any {cats}?", "right, what about {cats} now", "can you also find me a {cat}",
              "now I need a {cat} as well", "and do you have {color} {cats}?", "some {cats} to go with that?",
              "nice. separate question, got any {cats}?", "moving on, I need a {color} {cat}",
              "thanks! also, {color} {cats}?", "ok and a {cat} too please", "now show me {cats}",
              "and what {cats} have you got", "great, next I'm after a {cat}", "forget that, any {color} {cats}?"],
    "test": ["switching gears: {color} {cats}, got any?"],
}


def g_new_search(g: Gen, split: str) -> Draft:
    """Draw a search for another category while an outfit or a list is shown: a new search, not alternatives."""
    turn = g.rng.randint(2, 6)
    if g.chance(0.5):
        shown = g.shown(g.outfit_items(), turn - 1, "recommend_outfit")
        view: dict[str, Any] = {"outfits": [[s.id for s in shown]]}
    else:
        c0, _ = g.category()
        shown = g.shown(g.result_items(c0), turn - 1, "search_catalog")
        view = {}
    cat, words = g.category(tuple(c for c in CAT_WORDS if c not in {s.category for s in shown}))
    tpl = _pool(g, NEW_SEARCHES, split)
    args: dict[str, Any] = {"categories": [cat]}
    slot = {"cat": words[0].removeprefix("pair of "), "cats": words[1], "color": ""}
    if "{color}" in tpl and g.chance(0.6):
        c, slot["color"] = g.color()
        args["colors"] = [c]
    text = " ".join(tpl.format(**slot).split())
    view.update({"turn": turn, "shown": shown, "last_shown": shown})
    return Draft(text, _call("search", "search_catalog", args), view)


#: Two items asked for in one message: two searches (``{a}``, ``{b}``: "a navy blazer", "white trainers").
TWO_THINGS: Pools = {
    "train": ["I need {a} for work and also {b} for the weekend", "looking for {a}, and {b} too",
              "can you find me {a} and also {b}", "{a} plus {b} please", "two things: {a} and {b}",
              "I'm after {a}, oh and {b} as well", "need {a}. also {b}", "show me {a} and separately {b}",
              "{a} and {b} pls, separate searches", "I want {a}, and I also need {b}",
              "could you look for {a}? and {b} while you're at it", "hunting for {a} and also {b}"],
    "test": ["on my list today: {a}, then {b}"],
}


def _thing(g: Gen, words: tuple[str, str, str], args: dict[str, Any]) -> str:
    """Return a phrase for one wanted item ("a navy blazer", "some jeans"), its colour put in ``args``."""
    if g.chance(0.6):
        c, w = g.color()
        args["colors"] = [c]
        return str(g.pick([f"a {w} {words[0]}", f"{w} {words[1]}", f"some {w} {words[1]}"]))
    return str(g.pick([f"a {words[0]}", f"some {words[1]}", f"new {words[1]}"]))


def g_two_things(g: Gen, split: str) -> Draft:
    """Draw two items of different categories asked for in one message: one search for each."""
    c1, w1 = g.category()
    c2, w2 = g.category(tuple(c for c in CAT_WORDS if c != c1))
    a1: dict[str, Any] = {"categories": [c1]}
    a2: dict[str, Any] = {"categories": [c2]}
    text = _pool(g, TWO_THINGS, split).format(a=_thing(g, w1, a1), b=_thing(g, w2, a2))
    plan = Plan(intent="search", calls=[*_call("search", "search_catalog", a1).calls,
                                        *_call("search", "search_catalog", a2).calls])
    return Draft(text, plan, {"turn": g.rng.randint(0, 4)})


#: Requests outside shopping for clothes, some with an occasion word in them (out of scope, no tool).
OFF_TOPIC: Pools = {
    "train": ["can you book me a table for two on friday", "order me a taxi to the party", "what's the weather "
              "going to be like for the wedding", "recommend a good restaurant for date night",
              "help me write a best man speech", "what time does the gym open tomorrow",
              "remind me about my interview at 9", "find me cheap flights to barcelona for my holiday",
              "whats a good film to watch tonight", "can you pay my phone bill", "book a hotel for the weekend",
              "what should I cook for dinner tonight", "how do I get to the concert venue",
              "get me tickets for the festival", "can you call my mum", "what's the best gym near me",
              "recipe for a birthday cake?", "set an alarm for 7", "who won the match last night",
              "sort out train tickets for the weekend trip", "can you reserve a spot at the spa"],
    "test": ["could you reserve two seats at the theatre for friday"],
}


def g_off_topic(g: Gen, split: str) -> Draft:
    """Draw a request the assistant cannot do (bookings, weather, recipes): out of scope, with no call."""
    turn = g.rng.randint(0, 5)
    view: dict[str, Any] = {"turn": turn}
    if turn and g.chance(0.6):
        shown = g.shown(g.outfit_items(), turn - 1, "recommend_outfit")
        view.update({"shown": shown, "last_shown": shown, "outfits": [[s.id for s in shown]]})
    return Draft(_pool(g, OFF_TOPIC, split), Plan(intent="out_of_scope"), view)


#: Recalled preferences a plain request leaves to the tools (they re-rank and drop dislikes themselves).
_PREF_KINDS = ("search_plain", "need", "outfit_plain", "occasion_indirect", "short", "new_search", "ordinal")


def _add_preferences(g: Gen, view: dict[str, Any], target: Plan) -> None:
    """Give a step the shopper's recalled preferences (the prompt's ``prefs:`` line), none of them in the plan.

    The tools apply stored likes and dislikes themselves, so a plan copies none of them unless the message
    asks ("skip what I hate", in the base build): the model must not read a disliked colour as a wanted one.
    """
    used = {str(v) for c in target.calls for vs in c.args.values() for v in (vs if isinstance(vs, list) else [vs])}
    facts: list[dict[str, Any]] = []
    for _ in range(g.rng.randint(1, 3)):
        kind = g.pick(["color", "color", "material", "size", "style"])
        if kind == "color":
            value = g.color(avoid=sorted(used))[0]
        elif kind == "material":
            value = g.pick([m for m in ("leather", "wool", "polyester", "silk", "denim") if m not in used])
        elif kind == "size":
            value = g.pick(["S", "M", "L", "38", "40"])
        else:
            value = g.pick([s for s in sorted(STYLE_WORDS) if s not in used])
        polarity = "neutral" if kind == "size" else g.pick(["dislike", "dislike", "like"])
        if any(f["kind"] == kind and f["value"] == value for f in facts):
            continue
        facts.append({"kind": kind, "value": value, "polarity": polarity, "confidence": 0.9,
                      "source_turn": 0, "timestamp": "2025-01-01T00:00:00+00:00", "text": ""})
    view["preferences"] = facts


def _add_voices() -> None:
    """Append the train-only phrasings written in other voices (:mod:`training.planner.voices`) to their pools.

    Raises:
        KeyError: for a key that names no pool here (``"ROLE_CHANGES:color"``, ``"SEARCH_FORMS"``).
        ValueError: for a phrasing with a slot its pool's own phrasings never use, or without one they all use.
    """
    from training.planner.voices import TRAIN_VOICES

    for key, phrasings in TRAIN_VOICES.items():
        name, _, kind = key.partition(":")
        table = globals().get(name)
        if not isinstance(table, dict) or (kind and kind not in table) or (not kind and "train" not in table):
            raise KeyError(f"training.planner.voices: {key!r} names no phrasing pool of data_everyday")
        pool = table[kind] if kind else table
        used = [set(re.findall(r"\{(\w+)\}", t)) for t in pool["train"]]
        known, needed = set().union(*used), set.intersection(*used)
        train = list(pool["train"])
        for text in phrasings:
            slots = set(re.findall(r"\{(\w+)\}", text))
            if slots - known or needed - slots:
                raise ValueError(f"training.planner.voices: {key}: {text!r} must use the slots {sorted(needed)} "
                                 f"and may use {sorted(known - needed)}, no others")
            if text not in train:
                train.append(text)
        pool["train"] = train


_add_voices()


#: The generators, with their relative weights.
EVERYDAY_GENERATORS: dict[str, tuple[Callable[[Gen, str], Draft], float]] = {
    "need": (g_need, 6), "beach": (g_beach, 1.5), "role": (g_role, 6), "question": (g_question, 9),
    "move": (g_move, 4), "short": (g_short, 2.5), "ramble": (g_ramble, 3),
    "occasion_indirect": (g_occasion_indirect, 5), "outfit_plain": (g_outfit_plain, 4),
    "search_plain": (g_search_plain, 4), "show_more": (g_show_more, 2), "ordinal": (g_ordinal, 3),
    "another_outfit": (g_another_outfit, 2), "outfit_back": (g_outfit_back, 1.5),
    "refine": (g_refine, 4), "new_search": (g_new_search, 3), "two_things": (g_two_things, 2),
    "off_topic": (g_off_topic, 1.5),
}


# --------------------------------------------------------------------------------------------------
# The conversation around a step: what the prompt's U:/A: lines and focus say
# --------------------------------------------------------------------------------------------------

_PRONOUN_RE = re.compile(r"\b(?:it|that one|this one|them|they)\b", re.IGNORECASE)
_OUTFIT_ASKS = ["an outfit for the weekend", "put a look together for dinner", "something to wear to work",
                "what should I wear to a party", "need a look for a date", "style me for brunch",
                "outfit for a wedding pls", "dress me for the office", "I need something to wear on holiday"]
_OUTFIT_LINES = ["{a} and {b} neutrals let the {c} stand out; the pieces share a {s} feel.",
                 "A {s} look: the {a} {x} anchors it, the {b} {y} keeps it easy.",
                 "For {o}: {a}, {b} and {c} pieces in a {s} style.",
                 "An outfit of {n} pieces, €{t} in total."]


def _search_ask(g: Gen, shown: Sequence[Any]) -> str:
    words = g.pick(CAT_WORDS[shown[0].category])
    return str(g.pick([f"show me {words[1]}", f"any {words[1]}?", f"looking for a {words[0]}",
                       f"got any {shown[0].color} {words[1]}", f"I need {words[1]}", f"{words[1]} please"]))


def _listing(shown: Sequence[Any]) -> str:
    first = shown[0]
    return f"1. {first.title} — {first.color}, €{first.price:.2f} [{first.id}]"


def _add_context(g: Gen, view: dict[str, Any], text: str) -> None:
    """Give a step after results the conversation around it, as the live prompt has it (in place).

    The previous turn's ``U:``/``A:`` lines, with the assistant's reply in the tools' own words ("Found 5
    item(s). 1. ...", an outfit's explanation); and sometimes the list shown last is the alternatives to an
    item, which stays in focus (the prompt's ``focus:`` line), so a place ("the first one") must be told
    from the item in focus (only where no item is in focus yet, the list is the only one shown, and the
    message says no "it" or "them").
    """
    shown = view.get("last_shown") or []
    if not shown or view.get("history") or not g.chance(0.8):
        return
    source = shown[0].source
    if source == "recommend_outfit":
        a, b, c = (shown[i % len(shown)] for i in range(3))
        reply = g.pick(_OUTFIT_LINES).format(
            a=a.color.title(), b=b.color, c=c.color, s=g.pick(sorted(STYLE_WORDS)), x=a.category, y=b.category,
            o=g.pick(["dinner", "the weekend", "work"]), n=len(shown), t=f"{sum(x.price for x in shown):.2f}")
        view["history"] = [{"role": "user", "content": g.pick(_OUTFIT_ASKS)}, {"role": "assistant", "content": reply}]
        return
    only_list = {s.id for s in view.get("shown", [])} == {s.id for s in shown}
    if not view.get("focus_item_id") and only_list and g.chance(0.35) and not _PRONOUN_RE.search(text):
        # the list shown last is the alternatives to an item of an earlier list, which stays in focus
        pool = [i for i in g.by_cat[shown[0].category] if i.id not in {s.id for s in shown}]
        if pool:
            focus = g.pick(pool)
            change = g.pick(["similar", "cheaper", "in another colour", "more expensive"])
            view["focus_item_id"] = focus.id
            view["shown"] = [*g.shown([focus], max(0, shown[0].turn - 1), "search_catalog"), *view.get("shown", [])]
            for s in shown:
                s.source = "find_alternatives"
            view["history"] = [{"role": "user", "content": g.pick(["more like the first one", "anything cheaper?",
                                                                   "similar ones?", "in another colour?"])},
                               {"role": "assistant",
                                "content": f"Alternatives to the {focus.title} (€{focus.price:.2f}), {change}:"}]
            return
    view["history"] = [{"role": "user", "content": _search_ask(g, shown)},
                       {"role": "assistant", "content": f"Found {len(shown)} item(s). {_listing(shown)}"}]


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
        _add_context(g, draft.view, draft.text)
        if name in _PREF_KINDS and not draft.view.get("preferences") and g.chance(0.25):
            _add_preferences(g, draft.view, draft.target)
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

