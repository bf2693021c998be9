"""Honest answers (issue 14): constraints reported, nothing non-matching shown as a match, every request handled."""

from __future__ import annotations

import pytest

import tools
from agent.catalog.store import Catalog
from agent.catalog.vocab import SHADES, resolve
from agent.context import Context
from agent.plan import Plan, PlannerInput, ToolCall
from agent.planners.checks import PlanError, check_understood
from agent.planners.rules import RulesPlanner
from agent.reply import compose_reply
from agent.understanding import parse_message
from tools.base import ToolContext, ToolResult
from tools.constraints import report_for
from tools.search_catalog import SearchCatalogArgs

RULES = RulesPlanner()
TOOLS = {name: cls.args_schema() for name, cls in tools.discover().items()}


def _search(args: dict, settings: Context, catalog: Catalog, request: str) -> ToolResult:
    ctx = ToolContext(settings=settings, catalog=catalog, request=request)
    return tools.default_tools()["search_catalog"](args, ctx)


def _plan(text: str, **kw: object) -> Plan:
    return RULES.plan(PlannerInput(text=text, turn=1, tools=TOOLS, **kw))  # type: ignore[arg-type]


# -- the reader: shades, currencies, sizes, languages -------------------------------------------

def test_shades_map_to_their_listed_nearest_colour() -> None:
    for word, (nearest, _) in SHADES.items():
        found = resolve("color", word, typos=False)
        assert found is not None and found.value == nearest, word
    parsed = parse_message("only turquoise tops please, nothing else")
    assert [(s.word, s.value, s.strict) for s in parsed.shades] == [("turquoise", "blue", True)]
    assert [(s.word, s.strict) for s in parse_message("a teal dress").shades] == [("teal", False)]
    assert parse_message("a red dress").shades == []


def test_currencies_sizes_and_language() -> None:
    assert parse_message("sneakers under £40").currencies == ["£"]
    assert parse_message("jeans under 40 dollars in size M").currencies == ["$"]
    assert parse_message("jeans under 40 dollars in size M").sizes == ["M"]
    assert parse_message("zeig mir rote Kleider unter 50 Euro").language == "German"
    assert parse_message("je cherche des robes rouges").language == "French"
    for english in ("show me red dresses", "a dress for a wedding", "no pink please", "sneakers under 40"):
        assert parse_message(english).language is None, english


# -- the tools' constraint reports -------------------------------------------------------------

def test_report_names_approximations_and_unapplied() -> None:
    kinds = tools.discover()["search_catalog"].argument_kinds()
    report = report_for({"categories": ["dress"], "colors": ["blue"]}, kinds, "a teal dress", "€")
    assert "dress" in report.applied and "blue" in report.applied
    assert [(a.asked, a.used) for a in report.approximated] == [("teal", "blue")]
    report = report_for({"categories": ["sneakers"], "max_price": 40}, kinds, "sneakers under £40", "€")
    assert [(a.asked, a.used) for a in report.approximated] == [("£40", "€40")]
    report = report_for({"categories": ["trousers"]}, kinds, "jeans in size M", "€")
    assert [u.asked for u in report.not_applied] == ["size M"]  # a plan that dropped the size says so
    assert "size M" in report.sentence() and "without it" in report.sentence()
    report = report_for({"categories": ["trousers"], "sizes": ["M"]}, kinds, "jeans in size M", "€")
    assert not report.not_applied
    report = report_for({"categories": ["dress"], "colors": ["red"]}, kinds, "red dresses", "€")
    assert report.sentence() == ""


def test_search_reports_teal_as_blue(settings: Context, catalog: Catalog) -> None:
    r = _search({"categories": ["dress"], "colors": ["blue"]}, settings, catalog, "a teal dress")
    assert r.ok and r.items and r.constraints is not None
    text = compose_reply([], [r], [], settings, catalog)["text"]
    assert "teal" in text and "nearest" in text
    assert text.index("teal") < text.index("Found")


def test_only_a_shade_not_stocked_shows_no_match(settings: Context, catalog: Catalog) -> None:
    r = _search({"categories": ["top"], "colors": ["blue"]}, settings, catalog,
                "only turquoise tops please, nothing else")
    assert r.ok and r.items == [] and r.closest
    assert "no turquoise tops" in r.message
    payload = compose_reply([], [r], [], settings, catalog)
    assert payload["items"] == [] and all(not c["matching"] for c in payload["closest"])
    assert "not matching" in payload["text"]


def test_zero_results_say_why_and_show_closest(settings: Context, catalog: Catalog) -> None:
    r = _search({"categories": ["dress"], "colors": ["red"], "max_price": 1}, settings, catalog,
                "red dresses under 1")
    assert r.ok and not r.items
    assert "no red dresses under €1" in r.message and "cheapest red dress is" in r.message
    assert r.closest and all(i.category == "dress" and i.color == "red" for i in r.closest)
    assert [i.price for i in r.closest] == sorted(i.price for i in r.closest)


def test_zero_results_never_relax_exclusions(settings: Context, catalog: Catalog) -> None:
    args = SearchCatalogArgs(categories=["dress"], colors=["red"], exclude_colors=["pink"], max_price=1)
    r = _search(args.model_dump(exclude_none=True), settings, catalog, "red dresses under 1, no pink")
    assert all(i.color != "pink" for i in r.closest)
    r = _search({"categories": ["bag"], "materials": ["silk"], "exclude_materials": ["leather"]},
                settings, catalog, "silk bags, not leather")
    assert not r.items or all(i.material == "silk" for i in r.items)
    assert all(i.material.lower() != "leather" for i in r.closest)


# -- foreign language: what was understood, no search ------------------------------------------

def test_foreign_message_says_what_was_understood() -> None:
    plan = _plan("zeig mir rote Kleider unter 50 Euro")
    assert not plan.calls and plan.reply
    assert "German" in plan.reply and "understood only" in plan.reply and "50" in plan.reply


def test_check_refuses_calls_for_a_foreign_message() -> None:
    view = PlannerInput(text="zeig mir rote Kleider unter 50 Euro", turn=1, tools=TOOLS)
    plan = Plan(intent="search", calls=[ToolCall(name="search_catalog", args={"max_price": 50})])
    with pytest.raises(PlanError):
        check_understood(plan, view)
    english = PlannerInput(text="red dresses under 50", turn=1, tools=TOOLS)
    assert check_understood(plan, english) is plan


# -- negation lists, same-message dislikes, include+exclude, short misspellings ------------------

def test_every_item_of_a_negated_list_is_excluded() -> None:
    plan = _plan("sneakers but nothing in navy or white")
    assert set(plan.calls[0].args["exclude_colors"]) == {"navy", "white"}


def test_completion_adds_dropped_exclusions() -> None:
    from agent.planners.grounding import complete_plan

    model = Plan(intent="search", calls=[ToolCall(name="search_catalog", args={"categories": ["sneakers"],
                                                                               "exclude_colors": ["navy"]})])
    reading = _plan("sneakers but nothing in navy or white")
    done = complete_plan(model, reading)
    assert set(done.calls[0].args["exclude_colors"]) == {"navy", "white"}


def test_dislike_in_the_same_message_excludes_and_is_stored() -> None:
    plan = _plan("I can't stand yellow, put something together for brunch")
    assert [c.name for c in plan.calls] == ["recommend_outfit"]
    assert plan.calls[0].args["exclude_colors"] == ["yellow"] and plan.calls[0].args["occasion"] == "brunch"
    assert [(f.kind, f.value, f.polarity) for f in plan.facts] == [("color", "yellow", "dislike")]


def test_a_plan_that_wants_and_excludes_the_same_value_is_refused() -> None:
    from agent.planners.checks import MODEL_CHECKS, check_consistent, run_checks

    view = PlannerInput(text="red dresses", turn=1, tools=TOOLS)
    bad = Plan(intent="search", calls=[ToolCall(name="search_catalog",
                                                args={"colors": ["red"], "exclude_colors": ["Red"]})])
    with pytest.raises(PlanError, match="both wanted and excluded"):
        check_consistent(bad, view)
    with pytest.raises(PlanError):
        run_checks(bad, view, MODEL_CHECKS)
    ok = Plan(intent="search", calls=[ToolCall(name="search_catalog",
                                               args={"colors": ["red"], "exclude_colors": ["pink"]})])
    assert check_consistent(ok, view) is ok


@pytest.mark.parametrize(("typed", "read"), [
    ("shwo me blak snekaers", "show me black sneakers"), ("gren tops", "green tops"), ("nvy coat", "navy coat"),
    ("jens under 50", "jeans under 50"), ("whte shoes", "white shoes"), ("pnk bag", "pink bag"),
])
def test_short_misspellings_are_read(typed: str, read: str) -> None:
    from agent.understanding import normalize_text

    assert normalize_text(typed) == read


@pytest.mark.parametrize("text", ["a lack of colour", "how about a cat print", "the pin is lost", "a red bag",
                                  "in the park", "a tea dress"])
def test_short_english_words_are_not_corrected(text: str) -> None:
    from agent.understanding import normalize_text

    assert normalize_text(text) == text


def test_rules_read_short_misspellings() -> None:
    args = _plan("shwo me blak snekaers").calls[0].args
    assert args["colors"] == ["black"] and args["categories"] == ["sneakers"]
    args = _plan("nvy jens").calls[0].args
    assert args["colors"] == ["navy"] and args["categories"] == ["trousers"]


# -- references point at the latest list ---------------------------------------------------------

def _two_lists(text: str) -> PlannerInput:
    from agent.plan import ShownItem

    first = [ShownItem(id=f"DRS-000{n}", title=f"Red Dress {n}", category="dress", color="red", price=90 - n,
                       turn=1, position=n) for n in (1, 2, 3)]
    second = [ShownItem(id=f"DRS-010{n}", title=f"Cheaper Red Dress {n}", category="dress", color="red",
                        price=50 - n, turn=2, position=n) for n in (1, 2)]
    return PlannerInput(text=text, turn=3, tools=TOOLS, shown=first + second, last_shown=second)


def test_the_first_one_means_the_latest_list() -> None:
    from agent.planners.checks import check_references

    view = _two_lists("the first one but in blue")
    earlier = Plan(intent="find_alternatives", calls=[ToolCall(name="find_alternatives",
                                                          args={"item_id": "DRS-0001", "color": "blue"})])
    with pytest.raises(PlanError, match="latest list"):
        check_references(earlier, view)
    latest = Plan(intent="find_alternatives", calls=[ToolCall(name="find_alternatives",
                                                         args={"item_id": "DRS-0101", "color": "blue"})])
    assert check_references(latest, view).calls[0].args["item_id"] == "DRS-0101"
    assert _plan_view(view).calls[0].args["item_id"] == "DRS-0101"
    # naming an earlier list, or the id itself, is the shopper's choice
    assert check_references(earlier, _two_lists("the first one from the earlier list, in blue")) is not None
    assert check_references(earlier, _two_lists("DRS-0001 in blue")) is not None


def _plan_view(view: PlannerInput) -> Plan:
    return RULES.plan(view)


# -- outfits fit the occasion ------------------------------------------------------------------

def test_untagged_items_suit_no_occasion_and_are_not_called_suited() -> None:
    from agent.catalog.models import Item
    from agent.catalog.outfits import OutfitRequest, explain, suits

    tee = Item(id="TOP-9999", title="Plain Tee", category="top", color="white", price=12.5, stock=3)
    gown = Item(id="DRS-9999", title="Silk Gown", category="dress", color="black", price=90, stock=3,
                styles=["evening", "formal"])
    assert not suits(tee, "wedding") and suits(gown, "wedding") and suits(tee, None)
    assert "suited to a wedding" not in explain([tee, gown], OutfitRequest(occasion="wedding"), ["formal"])
    assert "suited to a wedding" in explain([gown], OutfitRequest(occasion="wedding"), ["formal"])


def test_wedding_outfit_pieces_suit_a_wedding_or_the_reply_says_not(settings: Context, catalog: Catalog) -> None:
    from agent.catalog.outfits import suits

    run = tools.default_tools()["recommend_outfit"]
    ctx = ToolContext(settings=settings, catalog=catalog, request="an outfit for a wedding")
    r = run({"occasion": "wedding"}, ctx)
    assert r.ok
    assert r.items and all(suits(i, "wedding") for i in r.items)
    r = run({"occasion": "wedding", "max_total": 20}, ctx)
    assert r.ok and not r.items and r.closest
    assert "I can't put together a wedding outfit under €20; the closest is €" in r.message
    assert "suited to" not in r.explanation


# -- every request in a message ------------------------------------------------------------------

MULTI = "show me red dresses, generate an image of a blue coat and put together an outfit for dinner"


def test_messages_split_into_their_requests() -> None:
    from agent.understanding.clauses import split_requests

    assert split_requests(MULTI) == ["show me red dresses", "generate an image of a blue coat",
                                     "put together an outfit for dinner"]
    for single in ("show me red dresses", "red dresses and blue coats", "generate a red dress and find similar "
                   "ones in stock", "I need a dress for a wedding and shoes to go with it",
                   "I can't stand yellow, put something together for brunch"):
        assert split_requests(single) == [single], single


def test_each_request_is_planned_with_its_own_slots() -> None:
    plan = _plan(MULTI)
    calls = {c.name: c.args for c in plan.calls}
    assert [c.name for c in plan.calls] == ["search_catalog", "generate_image", "recommend_outfit"]
    assert calls["search_catalog"]["colors"] == ["red"] and calls["search_catalog"]["categories"] == ["dress"]
    assert calls["generate_image"]["color"] == "blue" and calls["generate_image"]["category"] == "coat"
    assert calls["recommend_outfit"]["occasion"] == "dinner" and "colors" not in calls["recommend_outfit"]


def test_requests_past_the_bound_are_named() -> None:
    plan = _plan("find black bags, show me red dresses, put together an outfit for the gym and show me green tops")
    assert len(plan.calls) == 3 and "left out" in plan.reply and "green tops" in plan.reply


def test_a_plan_dropping_requests_is_refused() -> None:
    from agent.planners.checks import check_all_requests

    view = PlannerInput(text=MULTI, turn=1, tools=TOOLS)
    one = Plan(intent="generate_image", calls=[ToolCall(name="generate_image", args={"prompt": "a red dress"})])
    with pytest.raises(PlanError, match="3 requests"):
        check_all_requests(one, view)
    assert check_all_requests(_plan(MULTI), view) is not None


# -- photos have roles -------------------------------------------------------------------------

ASSETS = __import__("pathlib").Path(__file__).resolve().parent.parent / "evals" / "conversations" / "assets"


def _astronaut():  # type: ignore[no-untyped-def]
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(ASSETS / "astronaut.png").convert("RGB"))


@pytest.mark.parametrize(("size", "problem"), [((1, 1), "too small"), ((20000, 30), "thin strip"),
                                               ((10, 400), "thin strip")])
def test_tiny_and_strip_uploads_are_refused(size: tuple[int, int], problem: str) -> None:
    from PIL import Image

    from agent.media import ImageInputError, check_usable

    with pytest.raises(ImageInputError, match=problem):
        check_usable(Image.new("RGB", size), "photo.png")
    check_usable(Image.new("RGB", (64, 200)), "photo.png")


def test_person_photo_is_described_as_a_person() -> None:
    from agent.plan import ImageInfo
    from agent.reply import describe_photo

    me = ImageInfo(sha256="a" * 64, path="me.png", turn=1, category="sandals", category_confidence=0.55,
                   color="black", role="person", people=1)
    text = describe_photo(me)
    assert "photo of a person" in text and "try" in text and "sandals" not in text
    assert "2 people" in describe_photo(me.model_copy(update={"people": 2}))


def test_try_on_takes_the_latest_person_photo(settings: Context) -> None:
    from agent.plan import ImageInfo
    from tools.virtual_try_on import _person

    me = ImageInfo(sha256="a" * 64, path="me.png", turn=1, role="person", people=1)
    coat = ImageInfo(sha256="b" * 64, path="coat.png", turn=2, role="garment", category="coat",
                     category_confidence=0.9)
    ctx = ToolContext(settings=settings, images=[me, coat])
    assert _person("latest", ctx).sha256 == me.sha256
    assert _person("b" * 12, ctx).sha256 == me.sha256  # the garment photo is not the shopper
    unknown = ImageInfo(sha256="c" * 64, path="x.png", turn=1)
    assert _person("latest", ToolContext(settings=settings, images=[unknown])).sha256 == unknown.sha256


def test_upright_and_body_count_geometry() -> None:
    import numpy as np

    from agent.tryon.body import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER, count_bodies, upright

    pts = np.zeros((33, 2), dtype=np.float32)
    pts[[L_SHOULDER, R_SHOULDER]] = [[40, 50], [60, 50]]
    pts[[L_HIP, R_HIP]] = [[42, 120], [58, 120]]
    assert upright(pts)
    assert not upright(pts[:, ::-1].copy())  # turned a quarter
    pts2 = pts.copy()
    pts2[:, 1] = 200 - pts2[:, 1]
    assert not upright(pts2)  # upside down

    class P:
        def __init__(self, x: float) -> None:
            self.x, self.y, self.visibility = x, 0.5, 1.0

    mask = np.zeros((100, 200), dtype=np.float32)
    mask[10:95, 20:60] = 1.0
    assert count_bodies(mask, [P(0.15), P(0.25)]) == 1
    mask[30:100, 140:185] = 1.0  # a second body, head out of frame
    assert count_bodies(mask, [P(0.15), P(0.25)]) == 2


def test_sideways_and_two_people_are_refused_by_the_body_finder() -> None:
    pytest.importorskip("mediapipe")
    import numpy as np

    from agent.tryon.base import TryOnInputError
    from agent.tryon.body import get_analyzer

    astro = _astronaut()
    analyzer = get_analyzer()
    assert analyzer.people(astro) == (1, True)
    with pytest.raises(TryOnInputError, match="upright"):
        analyzer.analyze(np.ascontiguousarray(np.rot90(astro)))
    headless = np.concatenate([astro[200:], np.full((200, astro.shape[1], 3), 255, np.uint8)])
    with pytest.raises(TryOnInputError, match="Which one is you"):
        analyzer.analyze(np.ascontiguousarray(np.concatenate([astro, headless], axis=1)))
    dress = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(ASSETS / "red-dress.png").convert("RGB"))
    assert analyzer.people(dress)[0] == 0


def test_a_new_kind_of_item_is_not_about_the_shown_one() -> None:
    from agent.plan import ShownItem
    from agent.planners.checks import check_grounding

    shoes = [ShownItem(id=f"SNK-000{n}", title=f"Black Sneakers {n}", category="sneakers", color="black",
                       price=50, turn=1, position=n) for n in (1, 2)]
    view = PlannerInput(text="gren tops", turn=2, tools=TOOLS, shown=shoes, last_shown=shoes)
    alt = Plan(intent="find_alternatives", calls=[ToolCall(name="find_alternatives",
                                                           args={"item_id": "SNK-0001", "color": "green"})])
    with pytest.raises(PlanError, match="search instead"):
        check_grounding(alt, view)
    pointed = PlannerInput(text="the first one but as green tops", turn=2, tools=TOOLS, shown=shoes,
                           last_shown=shoes)
    check_grounding(alt, pointed)  # the shopper points at the sneaker: no refusal here


def test_a_person_photo_is_not_used_as_a_garment() -> None:
    from agent.plan import ImageInfo
    from agent.planners.checks import check_references

    me = ImageInfo(sha256="a" * 64, path="me.png", turn=1, role="person", people=1)
    view = PlannerInput(text="this is me", turn=1, tools=TOOLS, images=[me], new_images=[me])
    search = Plan(intent="search", calls=[ToolCall(name="search_catalog", args={"image": "latest"})])
    with pytest.raises(PlanError, match="shows a person"):
        check_references(search, view)
    coat = me.model_copy(update={"role": "garment", "sha256": "b" * 64})
    garment_view = PlannerInput(text="like this", turn=1, tools=TOOLS, images=[me, coat], new_images=[coat])
    assert check_references(search, garment_view) is not None
