"""What a message asks that the catalog cannot express exactly: shades, other currencies, other languages.

Pure functions over the raw and normalised text. The tools report these in their results
(:mod:`tools.constraints`): a shade is approximated by the nearest catalog colour, a price in another
currency is read in the catalog's, a size cannot be applied (the catalog lists none), and a message in
a language the reader does not read is answered with what was understood, not searched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from agent.catalog.vocab import SHADES

#: Currency symbols and words, by the symbol the catalog would use.
CURRENCY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("£", re.compile(r"£|\bgbp\b|\bpounds?\b|\bquids?\b|\bsterling\b")),
    ("$", re.compile(r"\$|\busd\b|\bdollars?\b|\bbucks\b")),
    ("€", re.compile(r"€|\beur\b|\beuros?\b")),
    ("¥", re.compile(r"¥|\byen\b")),
)
CURRENCY_NAMES = {"£": "pounds", "$": "dollars", "€": "euros", "¥": "yen"}

_STRICT_BEFORE_RE = re.compile(r"\b(?:only|just|exclusively|nothing but|strictly|exactly)\s+(?:in\s+)?(?:a\s+)?$")
_STRICT_AFTER_RE = re.compile(r"^[^.!?;]*\b(?:nothing else|only|and no other|no other colou?rs?)\b")

#: Words frequent in shopping requests in other languages (accents stripped), never English words.
_FOREIGN: dict[str, frozenset[str]] = {
    "German": frozenset("""zeig zeige zeigen mir und oder unter uber ich bitte rote roten rotes rot kleid kleider
        schuhe nicht mit ohne fur eine einen ist haben suche blaue blau schwarz schwarze schwarzen weiss weisse
        hose hosen jacke mantel hemd tasche taschen gunstig billiger etwas habt ihr gibt""".split()),
    "French": frozenset("""montre montrez moi des robe robes rouge rouges sous avec sans pour une je cherche les
        chaussures noir noire noires bleu bleue blanc blanche veste sac manteau moins voudrais avez vous
        baskets pantalon chemise""".split()),
    "Spanish": frozenset("""muestrame ensename vestido vestidos rojo rojos roja rojas sin para una unos por favor
        quiero busco zapatos menos negro negra azul blanco blanca chaqueta bolso tienes tienen pantalones
        camisa zapatillas""".split()),
    "Italian": frozenset("""mostrami fammi vedere vestito vestiti rosso rossi rossa rosse sotto senza voglio cerco
        scarpe nero nera bianco bianca giacca borsa avete pantaloni camicia""".split()),
    "Dutch": frozenset("""laat zien jurk jurken rode onder zonder voor een ik zoek schoenen zwart zwarte blauw
        blauwe wit witte tas jas broek graag""".split()),
}
_ENGLISH = frozenset("""the a an and or me show i you for with without in of to please some any under over find
    want need looking what my is are it this that can do have get see like but not no only""".split())
#: A few colour and garment words of those languages, to offer the request back in English.
GLOSSARY: dict[str, str] = {
    "rot": "red", "rote": "red", "roten": "red", "rotes": "red", "rouge": "red", "rouges": "red", "rojo": "red",
    "rojos": "red", "roja": "red", "rojas": "red", "rosso": "red", "rossi": "red", "rossa": "red", "rosse": "red",
    "rode": "red", "blau": "blue", "blaue": "blue", "bleu": "blue", "bleue": "blue", "azul": "blue",
    "blauw": "blue", "blauwe": "blue", "schwarz": "black", "schwarze": "black", "schwarzen": "black",
    "noir": "black", "noire": "black", "noires": "black", "negro": "black", "negra": "black", "nero": "black",
    "nera": "black", "zwart": "black", "zwarte": "black", "weiss": "white", "weisse": "white", "blanc": "white",
    "blanche": "white", "blanco": "white", "blanca": "white", "bianco": "white", "bianca": "white",
    "wit": "white", "witte": "white",
    "kleid": "dress", "kleider": "dresses", "robe": "dress", "robes": "dresses", "vestido": "dress",
    "vestidos": "dresses", "vestito": "dress", "vestiti": "dresses", "jurk": "dress", "jurken": "dresses",
    "schuhe": "shoes", "chaussures": "shoes", "zapatos": "shoes", "scarpe": "shoes", "schoenen": "shoes",
    "hose": "trousers", "hosen": "trousers", "pantalon": "trousers", "pantalones": "trousers",
    "pantaloni": "trousers", "broek": "trousers", "jacke": "coat", "mantel": "coat", "manteau": "coat",
    "veste": "coat", "chaqueta": "coat", "giacca": "coat", "jas": "coat", "tasche": "bag", "taschen": "bags",
    "sac": "bag", "bolso": "bag", "borsa": "bag", "tas": "bag", "hemd": "shirt", "chemise": "shirt",
    "camisa": "shirt", "camicia": "shirt", "baskets": "sneakers", "zapatillas": "sneakers",
    "unter": "under", "sous": "under", "menos de": "under", "sotto": "under", "onder": "under",
}


@dataclass(frozen=True)
class Shade:
    """A colour word the catalog has no colour for, read as its nearest catalog colour."""

    word: str
    value: str
    start: int
    end: int
    strict: bool = False


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def currencies(raw: str) -> list[str]:
    """Return the currency symbols a message names ("£40", "40 dollars"), in order of first mention."""
    text = raw.lower()
    found = [(m.start(), sym) for sym, pat in CURRENCY_PATTERNS for m in pat.finditer(text)]
    return list(dict.fromkeys(sym for _, sym in sorted(found)))


def shades(norm: str, spans: list[tuple[str, int, int]]) -> list[Shade]:
    """Return the colour mentions (``(value, start, end)`` in ``norm``) that name a shade, not a catalog colour."""
    out = []
    for value, start, end in spans:
        word = norm[start:end]
        if word in SHADES:
            strict = bool(_STRICT_BEFORE_RE.search(norm[:start]) or _STRICT_AFTER_RE.search(norm[end:]))
            out.append(Shade(word, value, start, end, strict))
    return out


def language(raw: str) -> str | None:
    """Return the name of the language a message is in when it is clearly not English, else None."""
    tokens = re.findall(r"[a-z]+", _plain(raw))
    if len(tokens) < 2:
        return None
    english = sum(t in _ENGLISH for t in tokens)
    best, hits = None, 0
    for name, words in _FOREIGN.items():
        n = sum(t in words for t in tokens)
        if n > hits:
            best, hits = name, n
    if best is not None and hits >= 2 and hits > english and hits * 2 >= len(tokens) - english - 2:
        return best
    return None


def english_guess(raw: str) -> str:
    """Return the words of a foreign message the glossary knows, in English order ("red dresses under 50")."""
    tokens = re.findall(r"[a-z]+|\d+(?:[.,]\d+)?", _plain(raw))
    colours = [GLOSSARY[t] for t in tokens if t in GLOSSARY and GLOSSARY[t] in
               ("red", "blue", "black", "white")]
    things = [GLOSSARY[t] for t in tokens if t in GLOSSARY and GLOSSARY[t] not in
              ("red", "blue", "black", "white", "under")]
    price = ""
    for i, t in enumerate(tokens):
        if GLOSSARY.get(t) == "under" and i + 1 < len(tokens) and tokens[i + 1][0].isdigit():
            price = f"under {tokens[i + 1]}"
    if not things:
        return ""
    return " ".join([*colours[:1], things[0], *([price] if price else [])])
