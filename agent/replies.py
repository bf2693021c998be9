"""Canned replies: what the assistant says when no tool runs (greetings, memory, forgetting, refusals).

Every planner uses these (the rules planner for its own call-less plans, the model planners through
:func:`agent.planners.checks.fill_reply`), so the wording is the same whichever backend planned the
step. Functions return plain text; the capabilities sentence lists only the tools offered this step.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from agent.catalog.vocab import CATEGORY_LABELS
from agent.plan import PreferenceFact

__all__ = [
    "CARRIED", "browse", "capabilities", "clarify_forget", "forgot", "forgot_everything", "join", "memory_summary",
    "noted", "not_carried", "out_of_scope", "small_talk", "unavailable",
]

#: Planner-facing capability phrases of the built-in tools (a tool's own ``capability`` wins).
_CAPABILITIES: dict[str, str] = {
    "recommend_outfit": "put together outfits from the catalog (for an occasion, or around a piece you own: "
                        "describe it or attach a photo)",
    "find_alternatives": "find alternatives to an item (cheaper, another colour, more formal...)",
    "search_catalog": "search the catalog",
    "recall_outfit": "bring back an earlier outfit",
    "generate_image": "design a new garment as an image",
    "virtual_try_on": "show an item on a photo of you",
}
#: What each built-in tool is called in a sentence ("Virtual try-on isn't available ...").
TOOL_TITLES: dict[str, str] = {
    "search_catalog": "Catalog search", "recommend_outfit": "Outfit recommendation",
    "find_alternatives": "Finding alternatives", "recall_outfit": "Recalling earlier outfits",
    "generate_image": "Image generation", "virtual_try_on": "Virtual try-on",
}


def join(words: Sequence[str]) -> str:
    """Return ``a``, ``a and b``, ``a, b and c``."""
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


#: The categories this shop carries, as a phrase.
CARRIED = join([CATEGORY_LABELS[c][1] for c in CATEGORY_LABELS])


def _phrase(name: str) -> str | None:
    from tools import discover

    cls = discover().get(name)
    own = getattr(cls, "capability", "") if cls is not None else ""
    return own or _CAPABILITIES.get(name)


def capabilities(tools: Collection[str]) -> str:
    """Return "I can ..." for the tools offered (built-in order first, then other tools by name)."""
    order = [*(_CAPABILITIES), *sorted(t for t in tools if t not in _CAPABILITIES)]
    can = [p for name in order if name in tools and (p := _phrase(name))]
    can.append("remember your preferences (ask 'what do you know about me?')")
    return "I can " + join(can) + "."


def small_talk(kind: str, tools: Collection[str]) -> str:
    """Return the reply to a greeting (``hello``), ``about``, ``thanks``, ``bye``, ``ack`` or ``unsure``.

    Raises:
        KeyError: for another ``kind``.
    """
    lead = {
        "hello": "Hi! I'm your fashion assistant.",
        "about": "I'm a fashion assistant for this shop's catalog.",
        "thanks": "You're welcome!",
        "bye": "Bye for now! Come back any time.",
        "ack": "Great.",
        "unsure": "I'm not sure what you'd like me to do.",
    }[kind]
    if kind == "bye":
        return lead
    if kind in ("thanks", "ack"):
        return f"{lead} Anything else? I can suggest an outfit, find alternatives or search the catalog."
    return f"{lead} {capabilities(tools)}"


def out_of_scope(tools: Collection[str]) -> str:
    """Return the refusal for a request outside fashion."""
    return ("Sorry, I can only help with fashion: outfits, alternatives to an item, and finding pieces in the "
            "catalog. " + capabilities(tools))


def memory_summary(preferences: Iterable[PreferenceFact]) -> str:
    """Return what is remembered about the shopper, with how to remove it."""
    prefs = list(preferences)
    if not prefs:
        return ("I don't have any preferences stored for you yet. Tell me things like 'I love navy', 'no leather' "
                "or 'I'm a size M' and I'll remember them.")
    likes = [f"{p.value} ({p.kind})" for p in prefs if p.polarity == "like"]
    dislikes = [f"{p.value} ({p.kind})" for p in prefs if p.polarity == "dislike"]
    notes = [f"{p.kind} {p.value}" for p in prefs if p.polarity == "neutral"]
    parts = []
    if likes:
        parts.append(f"you like {join(likes)}")
    if dislikes:
        parts.append(f"you dislike {join(dislikes)}")
    if notes:
        parts.append(f"I've noted {join(notes)}")
    return ("Here's what I remember: " + "; ".join(parts) + ". "
            "Say 'forget that I like …' to remove something, or 'forget everything' to start fresh.")


def forgot_everything() -> str:
    """Return the confirmation of forgetting everything."""
    return "Done: I've forgotten everything I knew about you. Your preferences are deleted."


def forgot(described: Sequence[str]) -> str:
    """Return the confirmation of forgetting some facts (``described``: "that you like red", "your size M")."""
    return f"Done: I've forgotten {join(described)}."


def clarify_forget() -> str:
    """Return the question asked when a forget request names nothing to forget."""
    return ("What should I forget? For example 'forget that I like red', 'forget my size', or 'forget everything "
            "about me'.")


def noted(facts: Sequence[PreferenceFact] = (), tools: Collection[str] = ()) -> str:
    """Return the acknowledgement of preferences just stated, plus an offer to act on one (when a tool can).

    "Noted: I'll remember you like navy; you'd rather avoid leather. Want me to show you something in
    navy?" With no facts, a bare acknowledgement.
    """

    def label(f: PreferenceFact) -> str:
        if f.kind == "category" and f.value in CATEGORY_LABELS:
            return CATEGORY_LABELS[f.value][1]
        return f.value

    likes = [label(f) for f in facts if f.polarity == "like"]
    dislikes = [label(f) for f in facts if f.polarity == "dislike"]
    notes = [f"{f.kind} {f.value}" for f in facts if f.polarity == "neutral"]
    parts = []
    if likes:
        parts.append(f"you like {join(likes)}")
    if dislikes:
        parts.append(f"you'd rather avoid {join(dislikes)}")
    if notes:
        parts.append(f"your {join(notes)}")
    offer = ""
    occasion = next((f.value for f in facts if f.kind == "occasion"), None)
    liked = next((f for f in facts if f.polarity == "like" and f.kind in ("color", "category", "style", "material")),
                 None)
    if occasion and "recommend_outfit" in tools:
        offer = f" Want me to put together an outfit for the {occasion}?"  # accepted by the rules planner's "yes"
    elif liked is not None and "search_catalog" in tools:
        what = {"color": f"something in {liked.value}", "material": f"something in {liked.value}",
                "style": f"something {liked.value}",
                "category": f"some {CATEGORY_LABELS.get(liked.value, (liked.value, liked.value))[1]}"}
        offer = f" Want me to show you {what[liked.kind]}?"
    if not parts:
        return "Noted: I'll remember that." + offer
    return f"Noted: I'll remember {'; '.join(parts)}.{offer}"


def unavailable(what: str, tools: Collection[str], offer: str = "") -> str:
    """Return the reply for a capability this installation lacks (``what``: "Virtual try-on")."""
    extra = ""
    if "search_catalog" in tools:
        extra = f" I can search the catalog{(' for ' + offer) if offer else ''} instead if you like."
    return f"{what} isn't available in this installation yet.{extra}"


def not_carried(what: str) -> str:
    """Return the reply for a kind of product this shop does not sell."""
    return f"Sorry, this shop doesn't carry {what}. It has {CARRIED}. Shall I look for one of those?"


def browse(tools: Collection[str]) -> str:
    """Return the reply to "what do you have?"."""
    lead = f"The catalog has {CARRIED}. What are you after? For example 'navy coats under 120'"
    if "recommend_outfit" in tools:
        lead += " or 'an outfit for a dinner'"
    return lead + "."


def foreign(language: str, understood: Sequence[str], guess: str = "") -> str:
    """Say honestly that a message in another language was mostly not understood, and what was."""
    got = f"I understood only {join(list(understood))}" if understood else "I couldn't understand it"
    offer = (f" Shall I show you {guess}?" if guess else
             " Could you ask in English, e.g. \"show me red dresses under 50\"?")
    return f"That looks like {language}, and I only read English: {got}.{offer}"
