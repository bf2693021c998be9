"""The plan checks: one ordered list every model-written plan goes through before the graph runs it.

A check is a function ``check(plan, view, reading) -> plan``: it returns the plan (possibly with
arguments mapped onto the catalog or the conversation) or raises :class:`PlanError`, whose message
says what was wrong (it is sent back to a model that can repair). ``reading`` is the rules
planner's plan of the same step when the pipeline computed one (grounding and completion need it).

In order (:data:`MODEL_CHECKS`, then :data:`GROUNDED_CHECKS` adds the last two):

1. :func:`check_tools_offered`: at most :data:`MAX_CALLS` calls, each to a tool offered this step;
   :func:`check_understood`: no calls for a message in a language the reader does not read;
   :func:`check_all_requests`: a call for each request of a message that makes several;
2. :func:`check_vocabulary`: category and colour arguments, wanted or excluded, mapped onto the
   catalog vocabulary (``jeans`` -> ``trousers``, ``gray`` -> ``grey``, ``shoes`` in a list -> every
   footwear category) by :func:`agent.catalog.vocab.resolve`, or refused;
   :func:`check_consistent`: no value both wanted and excluded (also run last, after completion);
3. :func:`check_references`: item arguments (``#2``, a shown id in any case) and image arguments
   (``latest``, a hash prefix) must point at something in this conversation; "the first one" is the
   latest list's first item unless the shopper names an earlier list;
4. :func:`check_arguments`: the tool's ``Args`` model accepts the arguments;
5. :func:`check_grounding`: every argument comes from the conversation (:mod:`agent.planners.grounding`);
6. :func:`complete_from_reading`: vocabulary arguments the model dropped but the reader found are
   added, and the plan is marked ``completed_by="rules"``.

Which arguments are items, images, categories or colours is declared by each tool
(:meth:`tools.base.Tool.argument_kinds`), so a new tool's arguments are checked with no edit here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from agent import replies
from agent.plan import Plan, PlannerInput, ToolCall
from agent.planners.base import PlanError
from tools import argument_kinds, discover

__all__ = [
    "GROUNDED_CHECKS", "MAX_CALLS", "MODEL_CHECKS", "Check", "PlanError", "check_all_requests", "check_arguments",
    "check_consistent",
    "check_grounding", "check_route",
    "check_references", "check_tools_offered", "check_understood", "check_vocabulary", "complete_from_reading",
    "fill_reply",
    "run_checks", "validate_call",
]

#: Most tool calls one planning step may make.
MAX_CALLS = 4
#: Image argument values that mean "the latest photo of the conversation".
LATEST_IMAGE = frozenset({"", "latest", "last"})
_REF_RE = re.compile(r"#\s*(\d+)")
#: What an item id the shopper typed looks like (letters, digits, dashes, with at least one digit: SHT-0042).
_TYPED_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*\d[A-Za-z0-9._:-]*")


Check = Callable[[Plan, PlannerInput, "Plan | None"], Plan]


def _replace_calls(plan: Plan, calls: Sequence[ToolCall]) -> Plan:
    return plan.model_copy(update={"calls": list(calls)})


# --------------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------------


def check_tools_offered(plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
    """Refuse more than :data:`MAX_CALLS` calls, and calls of tools not offered this step."""
    if len(plan.calls) > MAX_CALLS:
        raise PlanError(f"{len(plan.calls)} tool calls in one step; call at most {MAX_CALLS}")
    for call in plan.calls:
        if call.name not in view.tools:
            offered = ", ".join(view.tools) or "none"
            raise PlanError(f"there is no tool called {call.name!r}; the tools are: {offered}")
    return plan


def _vocab_values(kind: str, key: str, value: Any, tool: str) -> Any:
    from agent.catalog.vocab import CATEGORIES, COLORS, GROUP_SYNONYMS, resolve

    values = value if isinstance(value, list) else [value]
    out: list[str] = []
    for v in values:
        text = str(v)
        group = GROUP_SYNONYMS.get(text.strip().lower()) if kind == "category" else None
        if group and isinstance(value, list):
            found: list[str] = [*group]  # "shoes" in a list of categories is every footwear category
        else:
            hit = resolve("category" if kind == "category" else "color", text)
            if hit is None:
                if kind == "category":
                    raise PlanError(f"{tool}.{key}: {text!r} is not a catalog category "
                                    f"(categories: {', '.join(CATEGORIES)})")
                raise PlanError(f"{tool}.{key}: {text!r} is not a catalog colour (colours: {', '.join(COLORS)})")
            found = [hit.value]
        out += [c for c in found if c not in out]
    return out if isinstance(value, list) else out[0]


def check_understood(plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
    """Refuse tool calls for a message in a language the reader does not read (the reply says what was understood)."""
    language = view.parsed.language if view.step == 0 else None
    if language and plan.calls:
        raise PlanError(f"the message is in {language}: answer with what was understood, call no tool")
    return plan


def check_all_requests(plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
    """Refuse a plan that drops requests of a message that makes several ("show me X, design Y and ...")."""
    from agent.understanding.clauses import MAX_REQUESTS, split_requests

    if view.step > 0 or not plan.calls:
        return plan
    wanted = min(len(split_requests(view.text)), MAX_REQUESTS)
    if wanted > 1 and len(plan.calls) < wanted:
        raise PlanError(f"the message makes {wanted} requests but the plan has {len(plan.calls)} call(s); "
                        "plan one call per request, each with its own arguments")
    return plan


def check_vocabulary(plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
    """Map category and colour arguments onto the catalog's words, or refuse a word that names none."""
    calls = []
    for call in plan.calls:
        kinds = argument_kinds(call.name)
        args = dict(call.args)
        for key, value in call.args.items():
            kind = (kinds.get(key) or "").removeprefix("exclude_")
            if value is not None and kind in ("category", "color"):
                args[key] = _vocab_values(kind, key, value, call.name)
        calls.append(call.model_copy(update={"args": args}))
    return _replace_calls(plan, calls)


def check_consistent(plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
    """Refuse a call that both asks for and excludes the same value (``colors: [red], exclude_colors: [red]``)."""
    for call in plan.calls:
        kinds = argument_kinds(call.name)
        wanted: dict[str, set[str]] = {}
        excluded: dict[str, set[str]] = {}
        for key, value in call.args.items():
            kind = kinds.get(key) or ""
            if value is None or kind.removeprefix("exclude_") not in ("category", "color", "material"):
                continue
            values = {str(v).strip().lower() for v in (value if isinstance(value, list) else [value])}
            target = excluded if kind.startswith("exclude_") else wanted
            target.setdefault(kind.removeprefix("exclude_"), set()).update(values)
        for kind, values in wanted.items():
            both = sorted(values & excluded.get(kind, set()))
            if both:
                raise PlanError(f"{call.name}: {', '.join(both)} is both wanted and excluded; keep one")
    return plan


def _item_ref(key: str, value: Any, tool: str, view: PlannerInput) -> Any:
    if not isinstance(value, str):
        return value
    ref = _REF_RE.fullmatch(value.strip())
    if ref:
        n = int(ref.group(1))
        for pool in (view.last_shown, view.shown):
            for s in pool:
                if s.position == n:
                    return s.id
        raise PlanError(f"{tool}.{key}: there is no item #{n} among the items shown")
    shown = {s.id for s in view.shown}
    if value in shown:
        return value
    for sid in shown:
        if sid.lower() == value.strip().lower():
            return sid
    typed = value.strip()
    if _TYPED_ID_RE.fullmatch(typed) and re.search(rf"(?<![\w-]){re.escape(typed.lower())}(?![\w-])",
                                                  view.text.lower()):
        return typed  # an id the shopper typed (checked against the catalog by the tool)
    from agent.understanding.references import shown_by_role

    role = shown_by_role(view, typed) if typed else None
    if role is not None:
        return role.id  # a piece named by its role ("TOP": the outfit's shirt)
    listed = ", ".join(sorted(shown)) or "none yet"
    raise PlanError(f"{tool}.{key}: item {value!r} was never shown in this conversation (shown ids: {listed})")


def _image_ref(key: str, value: Any, tool: str, view: PlannerInput) -> Any:
    if not isinstance(value, str) or value.strip().lower() in LATEST_IMAGE:
        return value
    if not any(img.sha256.startswith(value.strip()) for img in view.images):
        listed = ", ".join(img.sha256[:12] for img in view.images) or "none attached"
        raise PlanError(f"{tool}.{key}: no photo {value!r} in this conversation (photos: {listed})")
    return value


_EARLIER_LIST_RE = re.compile(r"\b(?:earlier|previous|original|first|other|old|older)\s+(?:list|search|results|set|"
                              r"batch|table|ones)\b|\b(?:from|shown|showed me) (?:before|earlier)\b|\bearlier\b")


def _latest_list_item(view: PlannerInput) -> tuple[str, str] | None:
    """Return ``(phrase, id)`` when the message points by position ("the first one") into the latest list."""
    if view.step > 0 or not view.last_shown or _EARLIER_LIST_RE.search(view.parsed.masked):
        return None
    from agent.understanding.references import find_reference

    ref = find_reference(view.parsed, view)
    if ref.kind != "ordinal" or ref.item_id is None or ref.span is None:
        return None
    return view.parsed.masked[ref.span[0]:ref.span[1]], ref.item_id


def _photo(value: Any, view: PlannerInput) -> Any:
    """Return the conversation image an image argument points at (None if unknown)."""
    if not isinstance(value, str) or not view.images:
        return None
    if value.strip().lower() in LATEST_IMAGE:
        return view.images[-1]
    return next((img for img in reversed(view.images) if img.sha256.startswith(value.strip())), None)


def person_photo_args(tool: str) -> dict[str, Any]:
    """Return the ``tool``'s arguments that take the shopper's photo (``person`` image arguments), with defaults."""
    cls = discover().get(tool)
    props = (cls.args_schema().get("properties") or {}) if cls is not None else {}
    return {key: (props.get(key) or {}).get("default") for key, kind in argument_kinds(tool).items()
            if kind == "image" and "person" in key}


def has_uploaded_photo(view: PlannerInput) -> bool:
    """Whether the shopper uploaded a photo in this conversation (a generated design or a try-on result is none)."""
    return any(img.kind == "upload" for img in view.images)


def _check_person_photo(tool: str, args: Mapping[str, Any], view: PlannerInput) -> None:
    """Refuse a call that reads the shopper's latest photo (a ``person`` image argument) when none was uploaded.

    A generated design or a try-on result is not a photo of the shopper ("how would it look on me?" after a
    design asks for a photo first).
    """
    for key, default in person_photo_args(tool).items():
        value = args.get(key, default)
        if isinstance(value, str) and value.strip().lower() in LATEST_IMAGE and not has_uploaded_photo(view):
            raise PlanError(f"{tool}.{key}: the shopper has uploaded no photo of themselves in this conversation; "
                            "ask for one first")


def check_references(plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
    """Resolve item references (``#2``, ``trs-0012``) to shown ids; refuse items and photos not in the conversation.

    "The first/second one" means the most recent list shown unless the shopper names an earlier one:
    an item argument for it must be that list's item, not one shown at some earlier time.
    """
    latest = _latest_list_item(view)
    calls = []
    for call in plan.calls:
        kinds = argument_kinds(call.name)
        args = dict(call.args)
        for key, value in call.args.items():
            if value is None:
                continue
            if kinds.get(key) == "item":
                args[key] = _item_ref(key, value, call.name, view)
                typed = [i for i, _, _ in view.parsed.ids]
                if typed and args[key] not in typed:
                    # "something cheaper than BAG-0251": that item, not one of the items on screen
                    raise PlanError(f"{call.name}.{key}: the shopper names {', '.join(typed)}, not {args[key]}")
                if (latest is not None and args[key] != latest[1]
                        and str(args[key]).lower() not in view.text.lower()):
                    raise PlanError(f"{call.name}.{key}: '{latest[0]}' is {latest[1]}, in the latest list shown, "
                                    f"not {args[key]}")
            elif kinds.get(key) == "image":
                args[key] = _image_ref(key, value, call.name, view)
                photo = _photo(args[key], view)
                if photo is not None and photo.role == "person" and "person" not in key:
                    raise PlanError(f"{call.name}.{key}: that photo shows a person, not a garment; offer a try-on "
                                    "instead of using it as a garment")
        _check_person_photo(call.name, args, view)
        calls.append(call.model_copy(update={"args": args}))
    return _replace_calls(plan, calls)


def check_arguments(plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
    """Validate each call's arguments with its tool's ``Args`` model (only the arguments given are kept)."""
    classes = discover()
    calls = []
    for call in plan.calls:
        cls = classes.get(call.name)
        if cls is None:
            calls.append(call)
            continue
        try:
            model = cls.Args.model_validate(dict(call.args))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'args'}: {err['msg']}" for err in exc.errors()
            )
            raise PlanError(f"invalid arguments for {call.name}: {problems}") from None
        calls.append(ToolCall(name=call.name, args=model.model_dump(exclude_unset=True)))
    return _replace_calls(plan, calls)


def _about_other_items(plan: Plan, view: PlannerInput) -> None:
    """Refuse an item argument when the message asks for another kind of item and points at no shown one.

    "gren tops" after a list of sneakers is a new search for tops, not alternatives to a sneaker.
    """
    from agent.catalog.vocab import GROUP_SYNONYMS
    from agent.understanding.references import find_reference

    parsed = view.parsed
    asked: set[str] = set()
    for m in parsed.of("category") + parsed.of("group"):
        asked.update(GROUP_SYNONYMS.get(m.value, ()) if m.kind == "group" else (m.value,))
    if not asked or view.step > 0:
        return
    if find_reference(parsed, view).kind not in ("none", "focus"):
        return
    for call in plan.calls:
        for key, kind in argument_kinds(call.name).items():
            item = view.shown_by_id(str(call.args.get(key))) if kind == "item" and call.args.get(key) else None
            if item is not None and item.category not in asked:
                raise PlanError(f"{call.name}.{key}: the shopper asks for {', '.join(sorted(asked))}, not about "
                                f"the {item.category} {item.id}; search instead")


def check_grounding(plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
    """Refuse arguments the conversation does not support; take price bounds from the message."""
    from agent.planners.grounding import ground_plan

    _about_other_items(plan, view)
    plan = ground_plan(plan, view)
    if (reading is not None and plan.intent == "clarify" and not plan.calls
            and any(c.name == "virtual_try_on" for c in reading.calls)):
        # the model asks for a photo of the shopper while one is attached and the item is clear
        raise PlanError("clarify is not grounded: the try-on has a person photo and an item")
    return plan


#: Tools that bring items (a new list or a changed outfit) rather than answer about the items shown.
ITEM_TOOLS = frozenset({"search_catalog", "recommend_outfit", "find_alternatives", "recall_outfit", "show_earlier"})


def check_route(plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
    """Refuse new items where the reader is sure the shopper asked for none.

    That is a question about the shown items, a request to see an earlier outfit or list again, thanks or
    goodbye, never mind, or a request outside the shop. And a picture is not drawn where the reader found a
    request for catalog items and no design or edit cue (``IMAGE_RE``, ``EDIT_RE``); no outfit is built around
    the piece the reader replaces. The other way round, a chat reply to a message that names a garment the
    reader plans a search or an outfit for ("gren tops") is refused.
    Only these readings are trusted over the model (besides the three cases after them): each comes from a
    question form or a fixed phrase
    (:func:`tools.answer_about_items.read_question`, the recall and back cues, ``THANKS_RE``, ``BYE_RE``,
    ``NEVER_MIND_RE``), after the
    reader found no request for items in the message. Everywhere else the model's routing stands.
    A look-up by id ("show me BAG-0251") must be a search (its ids are completed from the reading).
    """
    from agent.understanding.cues import BYE_RE, NEVER_MIND_RE, THANKS_RE

    if reading is None or view.step > 0:
        return plan
    asked = {c.name for c in reading.calls}
    if not plan.calls:
        named = view.parsed.values("category")
        noted = plan.facts and reading.facts  # "I'm a size 39 in sneakers": a fact the reader found too
        if (plan.intent in ("small_talk", "clarify") and not plan.forget and not noted and named and asked
                and asked <= {"search_catalog", "recommend_outfit"}):
            # "gren tops": a garment named and asked for (the reader plans its search) is no chat
            raise PlanError(f"{plan.intent} is not grounded: the shopper asks for items ({', '.join(named)}); "
                            f"plan {' and '.join(sorted(asked))}")
        return plan
    planned = {c.name for c in plan.calls}
    first = sorted(planned)[0]  # the call a refusal names
    if asked == {"answer_about_items"} and not planned & asked and planned & ITEM_TOOLS:
        raise PlanError(f"{first} is not grounded: the shopper asks about the items shown "
                        "(answer_about_items), not for other items")
    if "generate_image" in planned:
        from agent.understanding.cues import EDIT_RE, IMAGE_RE, TRY_ON_RE

        design = bool(IMAGE_RE.search(view.parsed.request) or EDIT_RE.search(view.parsed.norm))
        if not design and asked and asked <= {"search_catalog", "recommend_outfit"}:
            # "show me some pink sneakers" after a design: catalog items, not another picture
            raise PlanError(f"generate_image is not grounded: the shopper asks for catalog items "
                            f"({', '.join(sorted(asked))}), not for a design or a picture")
        if not design and TRY_ON_RE.search(view.parsed.request):
            # "how would the second pair look on me?": the shopper on their own photo (a try-on, or a photo
            # asked for first), never a drawn picture passed off as them
            raise PlanError("generate_image is not grounded: the shopper asks to see an item on themselves "
                            "(virtual_try_on with their photo), not for a design")
    asked_about = {str(c.args["about"]) for c in reading.calls
                   if c.name == "answer_about_items" and c.args.get("about")}
    for call in plan.calls:
        about = call.args.get("about")
        if call.name == "answer_about_items" and about and asked_about and about not in asked_about:
            # "what would all of that set me back?" asks for the total, not one item's price
            raise PlanError(f"answer_about_items.about={about} is not grounded: the shopper asks about "
                            f"{' or '.join(sorted(asked_about))}", tool=call.name, argument="about", value=about)
    replaced = {c.args.get("item_id") for c in reading.calls if c.name == "find_alternatives"}
    for call in plan.calls:
        if call.name == "recommend_outfit" and call.args.get("anchor_item_id") in replaced - {None}:
            # "the bottoms look too formal, something more casual?": that piece is to go, not to be built around
            raise PlanError(f"recommend_outfit.anchor_item_id={call.args['anchor_item_id']} is not grounded: the "
                            "shopper wants that piece replaced (find_alternatives), not an outfit around it")
    if (any(c.name == "search_catalog" and c.args.get("more") for c in reading.calls)
            and "search_catalog" not in planned):
        # "got any more?" after a search: its next results (search_catalog more), not alternatives to one item
        raise PlanError(f"{first} is not grounded: the shopper asks for more of the search shown "
                        "(search_catalog with more), not for other items")
    looked_up = {i for c in reading.calls if c.name == "search_catalog" for i in c.args.get("ids") or []}
    if looked_up and "search_catalog" not in planned:
        # "show me BAG-0251": that item (a look-up the completion fills in), not alternatives or another search
        raise PlanError(f"{first} is not grounded: the shopper asks to see {', '.join(sorted(looked_up))} "
                        "by id (search_catalog ids=...)")
    for again in ("recall_outfit", "show_earlier"):
        if asked == {again} and again not in planned:
            # "show me the last outfit again", "go back to the previous ones": what was shown, not new items
            raise PlanError(f"{first} is not grounded: the shopper asks to see again what was shown "
                            f"earlier ({again}), not for new items")
    if reading.calls or not planned & ITEM_TOOLS:
        return plan
    parsed = view.parsed
    dislikes = [f for f in reading.facts if f.polarity == "dislike"]
    # only where the message dislikes nothing but garments ("I hate orange - sneakers please" is read as
    # disliking both; the sneakers are wanted there)
    hated = {f.value for f in dislikes} if dislikes and all(f.kind == "category" for f in dislikes) else set()
    for call in plan.calls:
        wanted = [*(call.args.get("categories") or []), *(call.args.get("include_categories") or []),
                  call.args.get("anchor_category")]
        if hated & set(wanted):
            # "I hate sneakers, never show me those": a dislike to remember, not a search for them
            raise PlanError(f"{call.name} is not grounded: the shopper says they dislike "
                            f"{', '.join(sorted(hated & set(wanted)))} and asks for no items")
    if reading.intent == "out_of_scope":
        raise PlanError(f"{first} is not grounded: the request is outside the shop and asks for no items")
    if reading.intent == "small_talk" and (THANKS_RE.search(parsed.request) or BYE_RE.search(parsed.request)
                                           or NEVER_MIND_RE.search(parsed.masked)):
        raise PlanError(f"{first} is not grounded: the shopper says thanks, goodbye or never mind, "
                        "and asks for no items")
    return plan


def complete_from_reading(plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
    """Add vocabulary arguments the model dropped and the reader found; mark the plan ``completed_by="rules"``."""
    from agent.planners.grounding import complete_plan

    if reading is None or (view.step > 0 and view.results):
        return plan
    done = complete_plan(plan, reading)
    if done.calls != plan.calls:
        done = done.model_copy(update={"completed_by": "rules"})
    return done


#: What every model-written plan must pass.
MODEL_CHECKS: tuple[Check, ...] = (check_tools_offered, check_understood, check_all_requests, check_vocabulary,
                                   check_consistent,
                                   check_references, check_arguments)
#: :data:`MODEL_CHECKS` plus grounding in the conversation and completion from the reader (small models).
GROUNDED_CHECKS: tuple[Check, ...] = (*MODEL_CHECKS, check_grounding, check_route, complete_from_reading,
                                      check_consistent)


def run_checks(plan: Plan, view: PlannerInput, checks: Sequence[Check] = MODEL_CHECKS,
               reading: Plan | None = None) -> Plan:
    """Return ``plan`` after every check in order.

    Raises:
        PlanError: from the first check that refuses it.
    """
    for check in checks:
        plan = check(plan, view, reading)
    return plan


def validate_call(name: str, args: Mapping[str, Any], view: PlannerInput) -> ToolCall:
    """Check one tool call with :data:`MODEL_CHECKS` and return it with its arguments resolved.

    Raises:
        PlanError: naming an unknown tool, invalid arguments, or an item or photo not in the conversation.
    """
    plan = run_checks(Plan(intent="search", calls=[ToolCall(name=name, args=dict(args))]), view)
    return plan.calls[0]


# --------------------------------------------------------------------------------------------------
# Replies of call-less plans
# --------------------------------------------------------------------------------------------------


def fill_reply(plan: Plan, view: PlannerInput, reading: Plan | None = None) -> Plan:
    """Return ``plan`` with a reply composed for a call-less plan (memory, forget, small talk, ...).

    Model plans in the compact format carry no reply text: the reader's wording (``reading``) is used
    when it reads the message the same way, else the canned reply of :mod:`agent.replies`.
    """
    if plan.calls or plan.reply:
        return plan
    if reading is not None and reading.intent == plan.intent and not reading.calls and reading.reply:
        reply = reading.reply
    elif plan.intent == "show_memory":
        reply = replies.memory_summary(view.preferences)
    elif plan.intent == "forget":
        reply = (replies.forgot_everything() if "*" in plan.forget else
                 replies.forgot([k.partition(":")[2] for k in plan.forget]))
    elif plan.intent == "out_of_scope":
        reply = replies.out_of_scope(view.tools)
    elif plan.intent == "small_talk" and plan.facts:
        reply = replies.noted()
    else:
        reply = replies.small_talk("about" if plan.intent == "small_talk" else "unsure", view.tools)
    return plan.model_copy(update={"reply": reply})
