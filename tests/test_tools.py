from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tools
from agent.catalog.store import Catalog
from agent.context import Context
from agent.plan import PreferenceFact
from tools.base import ToolContext, ToolResult


def _ctx(settings: Context, catalog: Catalog, **kw: object) -> ToolContext:
    return ToolContext(settings=settings, catalog=catalog, **kw)  # type: ignore[arg-type]


def _run(name: str, args: dict, settings: Context, catalog: Catalog, **kw: object) -> ToolResult:
    return tools.default_tools()[name](args, _ctx(settings, catalog, **kw))


# -- contract over every registered tool ------------------------------------------------------

def test_registry_contract() -> None:
    found = tools.discover()
    assert {"search_catalog", "recommend_outfit", "find_alternatives"} <= set(found)
    for name, cls in found.items():
        assert name == cls.name
        assert name.isidentifier() and name == name.lower() and "__" not in name
        assert len(cls.description()) > 40, f"{name} needs a planner-facing docstring"
        schema = cls.args_schema()
        assert schema["type"] == "object"
        json.dumps(cls.spec())


def test_importing_tools_and_agent_does_not_import_torch() -> None:
    code = ("import sys, tools, graph, agent.nodes, agent.cli; tools.discover(); "
            "print(sorted(m for m in ('torch', 'transformers', 'diffusers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bad_arguments_become_error_results(settings: Context, catalog: Catalog) -> None:
    r = _run("search_catalog", {"limit": 500, "colour": "red"}, settings, catalog)
    assert not r.ok and "limit" in r.message and "colour" in r.message
    r = _run("recommend_outfit", {"style": "spacey"}, settings, catalog)
    assert not r.ok and "unknown style" in r.message


# -- search_catalog ---------------------------------------------------------------------------

def test_show_me_more_pages_through_the_same_search_and_says_when_there_is_none(settings: Context,
                                                                                 catalog: Catalog) -> None:
    from agent.plan import ShownItem

    args = {"categories": ["dress"], "limit": 5}
    first = _run("search_catalog", args, settings, catalog)
    shown = [ShownItem(id=i.id, title=i.title, category=i.category, color=i.color, price=i.price, turn=1,
                       position=n, source="search_catalog") for n, i in enumerate(first.items, start=1)]
    more = _run("search_catalog", {**args, "more": True}, settings, catalog, shown=shown)
    assert more.ok and more.items and all(i.category == "dress" for i in more.items)
    assert not {i.id for i in more.items} & {s.id for s in shown}
    assert more.message.startswith(f"Found {len(more.items)} more item(s), leaving out the 5 already shown")
    every = [i for i in catalog.items.values() if i.category == "dress" and i.in_stock]
    seen = [ShownItem(id=i.id, title=i.title, category=i.category, color=i.color, price=i.price, turn=1,
                      position=n, source="search_catalog") for n, i in enumerate(every, start=1)]
    none = _run("search_catalog", {**args, "more": True}, settings, catalog, shown=seen)
    assert not none.items and not none.closest
    assert none.message == "That's all: no other in-stock dresses match beyond the ones I've shown."
    red = _run("search_catalog", {**args, "colors": ["red"], "max_price": 60, "more": True}, settings, catalog,
               shown=seen)
    assert red.message == "That's all: no other in-stock red dresses under €60 match beyond the ones I've shown."


def test_search_with_filters(settings: Context, catalog: Catalog) -> None:
    r = _run("search_catalog", {"query": "dress", "categories": ["dress"], "max_price": 80, "limit": 4},
             settings, catalog)
    assert r.ok and 1 <= len(r.items) <= 4
    assert all(i.category == "dress" and i.price <= 80 and i.in_stock for i in r.items)


def test_search_with_no_match_says_so(settings: Context, catalog: Catalog) -> None:
    r = _run("search_catalog", {"categories": ["coat"], "max_price": 1}, settings, catalog)
    assert r.ok and r.items == [] and "There are no coats under €1" in r.message
    assert r.closest and all(i.category == "coat" for i in r.closest)  # shown apart, as not matching


# -- recommend_outfit -------------------------------------------------------------------------

def test_outfit_around_described_boots_respects_per_item_budget(settings: Context, catalog: Catalog) -> None:
    r = _run("recommend_outfit", {"anchor_category": "ankle boots", "anchor_color": "black", "occasion": "dinner",
                                  "max_price": 80}, settings, catalog)
    assert r.ok, r.message
    cats = [i.category for i in r.items]
    assert "ankle_boots" not in cats and len(set(cats)) == len(cats) >= 2
    assert all(i.price <= 80 and i.in_stock for i in r.items)
    assert "ankle boots" in r.explanation


def test_outfit_total_budget_and_exclusions(settings: Context, catalog: Catalog) -> None:
    r = _run("recommend_outfit", {"occasion": "office", "max_total": 220, "exclude_colors": ["black"],
                                  "exclude_categories": ["bag"]}, settings, catalog)
    assert r.ok, r.message
    assert sum(i.price for i in r.items) <= 220
    assert all(i.color != "black" and i.category != "bag" for i in r.items)
    assert {"trousers"} <= {i.category for i in r.items}


@pytest.mark.parametrize("occasion", ["conference", "interview", "wedding"])
def test_an_occasion_outfit_looks_past_the_closest_matches_for_pieces_that_suit(
        occasion: str, settings: Context, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.recommend_outfit as ro
    from agent.catalog.outfits import suits

    monkeypatch.setattr(ro, "POOL", 1)  # the closest match of each slot alone rarely suits the occasion
    r = _run("recommend_outfit", {"occasion": occasion}, settings, catalog)
    assert r.ok and len(r.items) >= 2 and not r.closest, r.message
    assert all(suits(i, occasion) for i in r.items)


def test_outfit_with_dress_has_shoes_and_no_trousers(settings: Context, catalog: Catalog) -> None:
    r = _run("recommend_outfit", {"occasion": "wedding", "include_categories": ["dress"]}, settings, catalog)
    cats = {i.category for i in r.items}
    assert "dress" in cats and "trousers" not in cats and cats & {"sandals", "sneakers", "ankle_boots"}


def test_outfit_around_catalog_item_excludes_its_category(settings: Context, catalog: Catalog) -> None:
    shirt = next(i for i in catalog.items.values() if i.category == "shirt" and i.in_stock)
    r = _run("recommend_outfit", {"anchor_item_id": shirt.id}, settings, catalog)
    assert r.ok and shirt.id not in [i.id for i in r.items]
    assert not {"shirt", "top", "pullover"} & {i.category for i in r.items}
    assert shirt.title in r.explanation


@pytest.mark.parametrize("occasion", ["interview", None])
def test_a_total_budget_the_catalog_can_meet_is_met_past_the_closest_matches(
        occasion: str | None, settings: Context, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """An outfit under the budget exists: it is found, even when the closest matches are all dearer.

    Seen in the everyday evals: "interview ... about 200 on the lot" was told "I can't put together an
    interview outfit under €200; the closest is €216.96" while a €191.96 one was in stock.
    """
    import tools.recommend_outfit as ro
    from agent.catalog.outfits import slots_for, suits, target_styles

    monkeypatch.setattr(ro, "POOL", 3)  # the closest three of each slot: rarely the cheap ones
    slots = slots_for(None, target_styles(None, occasion, None), [])
    cheapest = [min(i.price for i in catalog.items.values() if i.in_stock and i.category in slot
                    and suits(i, occasion)) for slot in slots]
    budget = round(sum(cheapest) + 1, 2)
    args = {"max_total": budget, **({"occasion": occasion} if occasion else {})}
    r = _run("recommend_outfit", args, settings, catalog)
    assert r.ok and r.items and not r.closest, r.message
    assert sum(i.price for i in r.items) <= budget and all(suits(i, occasion) for i in r.items)
    r = _run("recommend_outfit", {**args, "max_total": round(sum(cheapest[:-1]) - 1, 2)}, settings, catalog)
    assert not r.items and ("can't put together" in r.message or "over your" in r.message)


def test_a_budget_met_only_without_the_bag_leaves_the_bag_out_and_says_so(settings: Context,
                                                                          catalog: Catalog) -> None:
    from agent.catalog.outfits import slots_for, suits, target_styles

    slots = slots_for(None, target_styles(None, "wedding", None), [])
    assert ("bag",) in slots
    cheapest = {slot: min(i.price for i in catalog.items.values() if i.in_stock and i.category in slot
                          and suits(i, "wedding")) for slot in slots}
    budget = round(sum(p for s, p in cheapest.items() if s != ("bag",)) + 0.5, 2)
    assert budget < sum(cheapest.values())  # with any bag it cannot fit
    r = _run("recommend_outfit", {"occasion": "wedding", "max_total": budget}, settings, catalog)
    assert r.ok and r.items and "bag" not in {i.category for i in r.items}, r.message
    assert sum(i.price for i in r.items) <= budget and "No bag: with one it would go over your" in r.message
    asked = _run("recommend_outfit", {"occasion": "wedding", "max_total": budget, "include_categories": ["bag"]},
                 settings, catalog)
    assert not asked.items and "can't put together" in asked.message  # a bag asked for is never left out


def test_impossible_budget_is_explained(settings: Context, catalog: Catalog) -> None:
    r = _run("recommend_outfit", {"max_total": 20}, settings, catalog)
    assert not r.ok and "budget" in r.message


def test_disliked_colour_avoided_unless_asked(settings: Context, catalog: Catalog) -> None:
    prefs = [PreferenceFact(kind="color", value="black", polarity="dislike")]
    r = _run("recommend_outfit", {"occasion": "dinner"}, settings, catalog, preferences=prefs)
    assert r.ok and all(i.color != "black" for i in r.items)
    r = _run("search_catalog", {"colors": ["black"], "categories": ["bag"]}, settings, catalog, preferences=prefs)
    assert r.items and all(i.color == "black" for i in r.items), "explicit request beats memory"


# -- find_alternatives ------------------------------------------------------------------------

def test_cheaper_alternatives_same_category_different_item(settings: Context, catalog: Catalog) -> None:
    orig = max((i for i in catalog.items.values() if i.category == "coat"), key=lambda i: i.price)
    r = _run("find_alternatives", {"item_id": orig.id, "cheaper": True}, settings, catalog)
    assert r.ok and r.items
    assert all(i.category == "coat" and i.price < orig.price and i.id != orig.id and i.in_stock for i in r.items)


def test_alternatives_in_colour_and_not_material(settings: Context, catalog: Catalog) -> None:
    orig = next(i for i in catalog.items.values() if i.category == "ankle_boots" and i.material == "leather")
    r = _run("find_alternatives", {"item_id": orig.id, "exclude_materials": ["leather"]}, settings, catalog)
    assert r.ok and all(i.material != "leather" and i.category == "ankle_boots" for i in r.items)
    tops = [i for i in catalog.items.values() if i.category == "top"]
    want = next(i.color for i in tops if i.in_stock and i.color != tops[0].color)
    r = _run("find_alternatives", {"item_id": tops[0].id, "color": want}, settings, catalog)
    assert r.ok and r.items and all(i.color == want and i.category == "top" for i in r.items)


def test_alternatives_unknown_id_and_impossible_change(settings: Context, catalog: Catalog) -> None:
    r = _run("find_alternatives", {"item_id": "ZZZ-9999"}, settings, catalog)
    assert not r.ok and "No item with id 'ZZZ-9999'" in r.message
    cheapest = min((i for i in catalog.items.values() if i.category == "bag"), key=lambda i: i.price)
    r = _run("find_alternatives", {"item_id": cheapest.id, "cheaper": True}, settings, catalog)
    # none is cheaper: said so, and the cheapest other bags are offered apart, labelled as not matching
    assert r.ok and not r.items and "No other in-stock bags cheaper than" in r.message
    assert r.closest and cheapest.id not in {i.id for i in r.closest}
    assert all(i.category == "bag" and i.price >= cheapest.price for i in r.closest)
    assert [i.price for i in r.closest] == sorted(i.price for i in r.closest)
    assert r.closest_note == f"none is cheaper than €{cheapest.price:.2f}; the cheapest first"


def test_alternatives_with_no_match_offer_the_closest_and_keep_exclusions(settings: Context, catalog: Catalog) -> None:
    orig = next(i for i in catalog.items.values() if i.category == "ankle_boots" and i.color != "purple")
    # no purple ankle boots under 1 exist: the closest keep the exclusion and are other ankle boots
    r = _run("find_alternatives", {"item_id": orig.id, "color": "purple", "max_price": 1,
                                   "exclude_materials": ["leather"]}, settings, catalog)
    assert r.ok and not r.items and "No other in-stock" in r.message
    assert r.closest and all(i.category == "ankle_boots" and i.material != "leather" and i.id != orig.id
                             for i in r.closest)
    assert "do not match everything" in r.closest_note


def test_recall_outfit(settings: Context, catalog: Catalog) -> None:
    ids = [i.id for i in list(catalog.items.values())[:3]]
    r = _run("recall_outfit", {"index": 1}, settings, catalog, outfits=[ids])
    assert r.ok and [i.id for i in r.items] == ids
    r = _run("recall_outfit", {"index": 2}, settings, catalog, outfits=[ids])
    assert not r.ok and "only 1 outfit" in r.message
    r = _run("recall_outfit", {}, settings, catalog)
    assert not r.ok and "haven't recommended" in r.message


@pytest.mark.parametrize("name", ["search_catalog", "recommend_outfit"])
def test_tools_on_empty_catalog_say_how_to_fix(tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    settings = Context(data_dir=str(tmp_path))
    empty = Catalog(settings.catalog_dir, chroma_path=settings.chroma_path)
    r = tools.default_tools()[name]({}, ToolContext(settings=settings, catalog=empty))
    assert not r.ok and "fashionm3 catalog build" in r.message


def test_search_by_the_ids_a_shopper_typed(settings: Context, catalog: Catalog) -> None:
    """"show me BAG-0251": exactly that item; unknown ids and sold-out items are said, never replaced."""
    bags = sorted((i for i in catalog.items.values() if i.category == "bag" and i.in_stock), key=lambda i: i.id)
    r = _run("search_catalog", {"ids": [bags[0].id.lower()], "categories": ["dress"]}, settings, catalog)
    assert r.ok and [i.id for i in r.items] == [bags[0].id] and r.message == f"Here is {bags[0].id}."
    r = _run("search_catalog", {"ids": [bags[1].id, "ZZZ-9999"]}, settings, catalog)
    assert r.ok and [i.id for i in r.items] == [bags[1].id] and "No item with id 'ZZZ-9999'" in r.message
    r = _run("search_catalog", {"ids": ["ZZZ-9999"]}, settings, catalog)
    assert not r.ok and "No item with id 'ZZZ-9999'" in r.message and "describe the item" in r.message
    sold = bags[2].model_copy(update={"stock": 0, "variants": []})
    catalog.items[sold.id] = sold
    try:
        r = _run("search_catalog", {"ids": [sold.id]}, settings, catalog)
    finally:
        catalog.items[sold.id] = bags[2]
    assert r.ok and not r.items and f"({sold.id}) is out of stock" in r.message


def test_a_look_up_in_a_size_shows_the_item_only_when_that_size_is_in_stock(settings: Context,
                                                                              catalog: Catalog) -> None:
    sized = next(i for i in sorted(catalog.items.values(), key=lambda i: i.id)
                 if i.in_stock and i.sizes_in_stock and len(i.sizes_in_stock) < len(i.variants))
    have = sized.sizes_in_stock
    missing = next(v.size for v in sized.variants if v.size not in have)
    r = _run("search_catalog", {"ids": [sized.id, sized.id.lower()], "sizes": [have[0]]}, settings, catalog)
    assert r.ok and [i.id for i in r.items] == [sized.id]  # one item, though named twice
    r = _run("search_catalog", {"ids": [sized.id], "sizes": [missing]}, settings, catalog)
    assert r.ok and not r.items
    assert f"({sized.id}) is not in stock in size {missing} (in stock: {', '.join(have)})" in r.message


def test_alternatives_outside_a_price_range_come_nearest_price_first(settings: Context, catalog: Catalog) -> None:
    bags = sorted((i for i in catalog.items.values() if i.category == "bag" and i.in_stock), key=lambda i: i.price)
    orig, top = bags[0], bags[-1].price
    r = _run("find_alternatives", {"item_id": orig.id, "min_price": top + 100, "max_price": top + 200},
             settings, catalog)
    assert r.ok and not r.items and r.closest
    assert r.closest_note == f"outside €{top + 100:.2f}-€{top + 200:.2f}, nearest price first"
    assert [i.price for i in r.closest] == sorted((i.price for i in r.closest), reverse=True)
    assert r.closest[0].price == top
