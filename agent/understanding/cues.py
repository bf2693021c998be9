"""Intent cues: the patterns that say what kind of request a (normalised) message is."""

from __future__ import annotations

import re
from typing import Literal

from agent.catalog.vocab import (
    COLOR_SYNONYMS,
    MATERIAL_SYNONYMS,
    OCCASION_SYNONYMS,
    STYLE_SYNONYMS,
)

Polarity = Literal["like", "dislike", "neutral"]

# --------------------------------------------------------------------------------------------------
# Intent cues
# --------------------------------------------------------------------------------------------------


def _re(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(parts))


FORGET_RE = _re(
    r"\bforget\b", r"\bdelete (?:my|all my|all of my|everything|all)\b", r"\berase\b", r"\bwipe\b",
    r"\bremove (?:my|all my) (?:data|preferences|profile|info|information|details|memory)\b",
    r"\bclear (?:my|all my|your memory)\b", r"\bunlearn\b", r"\bstop remembering\b", r"\breset my\b",
    r"\bdo not remember\b", r"\bright to be forgotten\b",
)
FORGET_ALL_RE = _re(
    r"\b(?:forget|delete|erase|wipe|clear|remove|reset)\b.*\b(?:everything|all|me|my data|my profile|"
    r"my preferences|my info|my information|my details|what you know|anything|memory)\b",
    r"\bforget about me\b", r"\bright to be forgotten\b",
)
NEVER_MIND_RE = re.compile(r"^\W*(?:(?:oh|ok|okay|no|ah|actually|hmm)\W+)?(?:forget (?:it|about it)|never ?mind)"
                           r"(?:\W*$|\W+(?:i will|i am|i would|i have|i think|i might|maybe|just|thanks|thank you|"
                           r"that is|it is|for now|not now)\b.*$)")
#: A message phrased as a question (a question word first, or a question mark last).
QUESTION_FORM_RE = re.compile(r"^\W*(?:(?:and|so|ok|okay|hmm|um|right|also|oh|but)\W+)?(?:which|what|whats|how|is|are|"
                              r"does|do|did|who|whose|can you tell|could you tell|tell me|any idea|add)\b|\?\s*$")
FORGET_LAST_RE = re.compile(r"\bforget (?:that|what i (?:just )?said|the last thing)\W*$")

MEMORY_RE = _re(
    r"\bwhat (?:do|did) you (?:know|remember|have|store|keep)(?: stored| saved)? (?:about|abt|on) me\b",
    r"\bwhat (?:are|were) my (?:preferences|likes|tastes)\b", r"\bwhat do you remember\b",
    r"\bwhat have you (?:learned|learnt|saved|stored|remembered|noted)\b",
    r"\b(?:show|tell|list|give)(?: me)?(?: about)? my (?:preferences|profile|data|likes|style profile)\b",
    r"\bwhat did i tell you\b", r"\bdo you remember (?:me|what i (?:like|said|told))\b",
    r"^\W*my (?:saved |stored )?(?:preferences|profile)\W*$", r"\bwhat (?:do )?i like\?",
    r"\bwhat do you know about my\b",
)
IMAGE_RE = _re(
    r"\bdesign(?:s)? (?:me |us )?(?:a|an|some|my|something|me)\b",
    r"\bdraw(?: me| us)? (?:a|an|some|something|my|me|what)\b",
    r"\bsketch(?: me| us)? (?:a|an|some|something|me)\b", r"\bpaint(?: me)? (?:a|an|some|me)\b",
    r"\bimagine (?:a|an|some|me|how)\b", r"\bvisuali[sz]e\b", r"\bdream up\b", r"\brender(?: me)? (?:a|an)\b",
    r"\bgenerate\b(?! (?:me )?(?:an? |some |another )?(?:outfit|look|ideas?|options?|suggestions?))",
    r"\b(?:create|make|produce|show)(?: me| us)? (?:an? |some )?(?:new )?(?:ai )?(?:image|picture|"
    r"photo|pic|illustration|drawing|rendering|render|concept art|mock-?up)s?\b(?! of (?:the|this|it|that|"
    r"my))",
)
IMAGE_LEAD_RE = re.compile(
    r"^.*?\b(?:design(?:s)?|draw|sketch|paint|imagine|visuali[sz]e|dream up|render|generate|create|make|"
    r"produce|"
    r"show)(?: me| us)?(?: an?| some)?(?: new)?(?: ai)?(?: (?:image|picture|photo|pic|illustration|drawing|"
    r"rendering|render|design|concept art|mock-?up)s?)?(?: (?:of|for|showing|with))?\b\s*"
)
THEN_FIND_RE = re.compile(
    r"\b(?:and|then|,)\s+(?:then\s+|also\s+|now\s+)?(?:find|search|look for|get|show)(?: me)?\b.*"
    r"\b(?:real|in stock|closest|similar|like it|like that|like this|matching|lookalikes?|available|the shop)\b"
)
EDIT_RE = re.compile(
    r"\b(?:show|make|do|render|draw|paint|redo|turn|change|try|want|see)(?: me)?\s+(?:it|that|this|the design|"
    r"this design|that design|the same(?: one)?)\b|\b(?:what|how) about (?:it )?(?:in|with)\b|^(?:now |and |but )?"
    r"(?:in|with|without)\b|\bsame (?:thing|design|one|again) (?:in|with|but)\b"
)
EDIT_DETAIL_RE = re.compile(r"\b(?:long|short|longer|shorter|no|without|with)\s+(?:sleeves?|collar|hood|buttons?|"
                             r"belt|zip|pockets?)\b")
TRY_ON_RE = _re(
    r"\btry[- ]?on\b", r"\btry (?:it|this|that|them|these|those|one|the [a-z0-9 #-]{1,30}?) on\b",
    r"\bon me\b", r"\bon my (?:photo|picture|pic|selfie|body|image)\b",
    r"\bvirtual(?:ly)? (?:try|fitting|dressing)\b",
    r"\bfitting room\b", r"\bput (?:it|this|that|them) on (?:me|my)\b",
    r"\bhow (?:would|will|does|do) i look in\b",
    r"\bsee (?:myself|me) in\b",
)
_OUTFIT_WORD = r"(?:outfit|outfits|look|looks|ensemble|combo|combination|set)"
HIST_ORD = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
             "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "last": -1, "previous": -1, "latest": -1,
             "earlier": -1, "prior": -1, "original": 1, "initial": 1}
LIKE_THIS_RE = re.compile(
    r"\b(?:(?:look(?:s|ing)? |something |anything |items? |one )?like (?:this|that|these|it|mine|the photo|the picture)"
    r"|similar|same (?:one|thing|style|look)|lookalikes?|dupes?|match(?:es|ing)? (?:this|it|these)"
    r"|do you (?:have|sell|stock) (?:this|these|it|one)|find (?:this|these|it)"
    r"|where can i (?:get|buy) (?:this|these|it)|real ones?|in stock (?:like|that look))\b"
)
HISTORY_RE = re.compile(
    rf"\b(?P<ord>{'|'.join(sorted(HIST_ORD, key=len, reverse=True))})\s+(?:one\s+)?{_OUTFIT_WORD}\b|"
    rf"\b{_OUTFIT_WORD}\s+(?:number\s*|no\.?\s*|#\s*)(?P<num>\d+)\b|"
    rf"\b(?P<before>{_OUTFIT_WORD}\s+(?:from\s+)?before(?: that)?)\b|"
    r"\bgo back to (?:the )?(?P<gb>first|second|third|previous|last|earlier|other|original)(?: one)?\b|"
    r"(?P<prev>\bwhat (?:did|was it that) you (?:just )?(?:suggest|recommend|show)(?:ed)?\b|"
    r"\b(?:that|the) (?:outfit|look) again\b)"
)
HISTORY_NEW_RE = re.compile(
    r"\b(?:new|another|different|fresh|cheaper|without|instead|change|swap|replace|except|similar|like)\b|"
    r"\b(?:more|less|but) (?!again\b)[a-z]+"
)

_OCCASION_WORDS = "|".join(sorted({re.escape(w) for syn in OCCASION_SYNONYMS.values() for w in syn}, key=len,
                                  reverse=True))
RECOMMEND_RE = _re(
    r"\boutfits?\b", r"\bensembles?\b",
    r"\bwhat (?:should|shall|can|could|would|do|to|will) (?:i |we )?wear\b",
    r"\bwhat to wear\b",
    r"\b(?:something|anything|things?|clothes) (?:nice |good |smart |casual |cute )?to wear\b",
    r"\bwear (?:to|for|with|on|at)\b", r"\bgo(?:es)? (?:well |nicely |best |great )?with\b",
    r"\bgoing with\b",
    r"\bpair(?:s|ed|ing)? (?:well |nicely )?(?:it |this |that |them |these |those )?with\b", r"\bto pair\b",
    r"\bmatch(?:es|ing)? (?:with )?(?:it|this|that|these|those|them|my)\b", r"\bto match\b",
    r"\bcomplete (?:the|this|my|a|an) (?:look|outfit)\b", r"\bcomplete look\b",
    r"\bstyle (?:these|this|it|them|that|those|my|me)\b",
    r"\bhow (?:should|do|can|could|would|to) (?:i )?style\b",
    r"\bput (?:together|an outfit|a look)\b", r"\bput \w+ together\b", r"\bcombine\b", r"\bcoordinate\b",
    r"\bhead to toe\b", r"\bfull look\b", r"\bdress me\b",
    r"\b(?:a|the|new|another|different|whole|full|complete|casual|formal|smart|evening|party|office|summer|"
    r"winter|beach|date|dinner|wedding|cute|nice|chic|good|great) look\b",
    r"\bbuild (?:me )?(?:a |an )?(?:look|outfit)\b", r"\bbuild (?:something )?around\b",
    r"\b(?:around|with) (?:this|it|that|my|these|those)\b(?! (?:one|ones)\b)(?=.*\b(?:wear|style|look|go)\b)",
    r"\bwhat (?:goes|would go|will go|looks good|works) with\b", r"\bhow to dress\b",
    r"\b(?:i|to|should i|how do i|how should i) dress (?:up )?(?:for|to)\b",
    r"\blooks? (?:good |nice |great )?with\b", r"\bwhat can i wear\b", r"\bwhat would you wear\b",
    r"\bpair(?:s|ed|ing)? (?:my|the|these|those|this|it|them)\b.*\bwith\b",
    rf"\bsomething\b[^.?!]*\bfor (?:a |an |the |my |our |this |next )?(?:\w+ )?(?:{_OCCASION_WORDS})\b",
)
REQUEST_WORDS_RE = re.compile(
    r"\b(?:need|want|something|anything|ideas?|suggest|suggestions?|recommend|recommendations?|help|what|"
    r"show|find|give|any)\b|\?"
)
CHEAPER_RE = _re(
    r"\bcheaper\b", r"\bcheapest\b", r"\bless (?:expensive|pricey|costly|money)\b", r"\bmore affordable\b",
    r"\baffordable\b", r"\blower (?:price|priced|cost)\b",
    r"\bbudget (?:version|option|alternative|one|pick)s?\b",
    r"\btoo (?:expensive|pricey|much|costly|dear)\b", r"\bnot so (?:expensive|pricey)\b", r"\bbargain\b",
    r"\bcosts? less\b", r"\bcheap (?:one|version|option)\b", r"\bsave (?:some )?money\b",
)
PRICIER_RE = _re(
    r"\bpricier\b", r"\bmore expensive\b", r"\bfancier\b", r"\bpremium\b", r"\bhigher[- ]end\b",
    r"\bhigh[- ]end\b", r"\bluxury\b", r"\bluxurious\b", r"\bmore upmarket\b", r"\bupmarket\b",
    r"\bbetter quality\b", r"\bhigher quality\b", r"\bsplurge\b", r"\bdearer\b", r"\bcostlier\b",
    r"\bposher\b",
)
_MORE_RE = re.compile(
    r"^\W*(?:can you |could you |please )?(?:show me |got |any |give me |see |i want |i would like )?"
    r"(?:some |any )?more(?: options| please| of (?:these|those|them|that)|"
    r" like (?:this|that|these|it|them))?\W*$"
)
#: "Show me more" with nothing to be like: the next results of the search just shown (not alternatives to one
#: item: "more like this one" and "similar ones?" are those). The whole message is the ask.
MORE_RESULTS_RE = re.compile(
    r"^\W*(?:(?:ok(?:ay)?|cool|nice|hmm+|great|thanks?|ty)\W+)?(?:can you |could you |can i see |please )?"
    r"(?:show me |got |have you got |do you have |you got |any |give me |see |i want |i would like )?"
    r"(?:some |any |a few |a couple )?(?:more|others|other ones|the next (?:ones|few|page)|next page|"
    r"next (?:ones|few))(?: (?:options|results|of (?:these|those|them|that)))?\W*(?:please|pls|plz)?\W*$"
    r"|^\W*what else (?:have you got|do you have|is there|you got)\W*$"
    r"|^\W*keep (?:them|em) coming\W*$"
)
ALT_RE = _re(
    r"\balternatives?\b", r"\balternatively\b", r"\bsimilar\b", r"\bsomething else\b", r"\banything else\b",
    r"\bsomething different\b", r"\binstead\b", r"\bswap\b", r"\breplace\b", r"\breplacement\b",
    r"\bexchange\b",
    r"\bswitch\b", r"\bchange (?:the|it|this|that|them)\b",
    r"\bother (?:options?|ones?|colou?rs?|choices?|styles?|versions?|materials?|shades?)\b",
    r"\banother (?:one|option|colou?r|version|choice|shade)\b",
    r"\bdifferent (?:one|option|colou?r|version|style|material|choice|shade)s?\b",
    r"\bmore (?:options|like (?:this|that|it))\b", r"\blike (?:this|that|it) (?:one )?but\b",
    r"\bsame (?:but|in)\b",
    r"\bbut in\b", r"\bother than (?:this|that|it)\b", r"\bvariations?\b", r"\bdupes?\b",
    r"\blook-?alikes?\b",
    r"\bin (?:a |another |a different )?(?:colou?r|shade)\b",
    r"\b(?:have|got|get|it|this|that|them|one|ones) in (?:a |another )?[a-z]+\b",
    r"\b(?:show|see) (?:me )?(?:it|this|that|them|these|those|one) in\b", r"\bcome in\b", r"\bavailable in\b",
    r"\bin \w+ instead\b", r"\bwhat else\b", _MORE_RE.pattern,
)


def _words(table: dict[str, tuple[str, ...]]) -> str:
    return "|".join(sorted({re.escape(w) for syn in table.values() for w in syn}, key=len, reverse=True))


_STYLE_WORDS = _words(STYLE_SYNONYMS)
_COLOR_WORDS = _words(COLOR_SYNONYMS)
_MATERIAL_WORDS = _words(MATERIAL_SYNONYMS)
STYLE_CHANGE_RE = re.compile(
    rf"\b(?:more|less|too|a bit more|bit more|slightly more|a little more)\s+(?:{_STYLE_WORDS})\b|"
    r"\b(?:sportier|dressier|smarter|edgier|classier|comfier|glammier|glitzier|more relaxed|more elegant)\b"
)
COLOR_CHANGE_RE = re.compile(rf"\b(?:in|but)\s+(?:a\s+|an\s+)?(?:{_COLOR_WORDS}|{_MATERIAL_WORDS})\b")
VEGAN_RE = re.compile(r"\bvegan\b(?! leather)|\bcruelty[- ]free\b|\bno animal\b|\banimal[- ]free\b")
DISLIKE_ITEM_RE = re.compile(
    r"\b(?:i )?(?:do not|did not) (?:really )?(?:like|love)\b|"
    r"\bnot (?:a (?:big )?fan of|keen on|sure about)\b|\bi (?:hate|dislike)\b"
)
UNCARRIED_RE = re.compile(
    r"\b(?:hats?|caps?|beanies?|scarf|scarves|gloves?|socks?|belts?|ties|jewell?e?ry|necklaces?|earrings?|"
    r"bracelets?|watches|sunglasses|swimsuits?|swimwear|bikinis?|lingerie|underwear|bras|skirts?|shorts|suits|"
    r"umbrellas?|wallets?|perfumes?|make-?up|tights)\b"
)
BROWSE_RE = re.compile(
    r"\bwhat (?:do you have|have you got|is in stock|do you sell|do you carry|is new|can i buy|"
    r"do you stock)\b|"
    r"\bwhat (?:kinds?|sorts?|types?) of (?:things|items|clothes|products) do you\b"
)
SEARCH_RE = _re(
    r"\bshow\b", r"\bfind\b", r"\bsearch\b", r"\blooking for\b", r"\blook for\b",
    r"\bdo you (?:have|sell|carry|stock)\b", r"\bhave you got\b", r"\bgot any\b", r"\bany\b",
    r"\bi (?:want|need|would like|would love)\b", r"\bbrowse\b", r"\bwhere can i (?:get|buy|find)\b",
    r"\bi am after\b", r"\bin search of\b", r"\blist\b", r"\bbuy\b", r"\bshop\b", r"\bget me\b",
    r"\brecommend\b", r"\bsuggest\b", r"\bsee\b", r"\bis there\b", r"\bare there\b",
    r"\bwhat (?:kind of|sort of)\b",
)
GREETING_RE = re.compile(
    r"^\W*(?:hi|hello|hey|hiya|howdy|yo|hallo|hola|bonjour|greetings|good (?:morning|afternoon|evening|day))"
    r"(?: there| again| you| all| everyone)?\b[\s,!.]*"
)
THANKS_RE = _re(r"\bthanks\b", r"\bthank you\b", r"\bthx\b", r"\bty\b", r"\bcheers\b",
    r"\bmuch appreciated\b",
                 r"\bappreciate it\b")
ABOUT_RE = _re(
    r"\bwho are you\b", r"\bwhat are you\b", r"\bwhat can you do\b", r"\bwhat do you do\b",
    r"\bhow (?:does this|do you|does it) work\b", r"^\W*help\W*$", r"\bhelp me\W*$", r"\bwhat is this\b",
    r"\bare you (?:a |an )?(?:bot|robot|human|ai|real|person)\b", r"\byour name\b", r"\bhow can you help\b",
    r"\bwhat are your (?:features|capabilities)\b", r"\bwhat can i (?:ask|do)\b", r"\bhow are you\b",
    r"\bi need help\W*$", r"\bcan you help\W*$",
)
BYE_RE = _re(r"\bbye\b", r"\bgoodbye\b", r"\bsee (?:you|ya)\b", r"\bgood night\b", r"\bciao\b",
    r"\bthat is all\b")
ACK_RE = re.compile(
    r"^\W*(?:ok|okay|cool|great|nice|perfect|awesome|lovely|brilliant|sounds good|got it|yes|yeah|yep|no|"
    r"nope|sure|"
    r"fine|alright|wow|haha|lol|love it|amazing|excellent|good|i (?:really )?(?:love|like) (?:it|this|that|"
    r"them|these|those|the \w+ one|this one|that one))\b[\s!.]*$"
)
OOS_RE = _re(
    r"\bweather\b", r"\bforecast\b", r"\bnews\b", r"\bheadlines\b", r"\bpolitic", r"\belection\b",
    r"\bpresident\b", r"\bprime minister\b", r"\bstock market\b", r"\bstock price\b", r"\bbitcoin\b",
    r"\bcrypto",
    r"\bmath", r"\bcalculate\b", r"\bequation\b", r"\bsolve\b", r"\bintegral\b", r"\bcode\b", r"\bcoding\b",
    r"\bprogram(?:ming)?\b", r"\bpython\b", r"\bjavascript\b", r"\bjava\b", r"\bsql\b", r"\bdebug\b",
    r"\balgorithm\b", r"\brecipes?\b", r"\bcook(?:ing)?\b", r"\bbake\b", r"\bbaking\b", r"\bscore\b",
    r"\bwho won\b", r"\bfootball\b", r"\bsoccer\b", r"\bcapital of\b", r"\btranslate\b", r"\bhomework\b",
    r"\bjoke\b", r"\bmovies?\b", r"\bfilms?\b", r"\bsongs?\b", r"\blyrics\b", r"\bpoem\b", r"\bessay\b",
    r"\bwhat time is it\b", r"\bbook (?:a|me a) (?:flight|hotel|table|taxi)\b", r"\bhotels?\b", r"\bdoctor\b",
    r"\bmedical\b", r"\blawyer\b", r"\btax(?:es)?\b", r"\bmeaning of life\b", r"\bplanet\b",
    r"\d+\s*(?:[-+*/x^]|plus|minus|times|divided by)\s*\d+", r"\bspell\b", r"\bdefine\b",
    r"\bmy order\b", r"\bdelivery\b", r"\bshipping\b", r"\brefunds?\b", r"\breturn (?:my|an|the|this)\b",
    r"\btrack(?:ing)?\b", r"\bpassword\b", r"\bcustomer service\b",
)

# --------------------------------------------------------------------------------------------------
# References to shown items
# --------------------------------------------------------------------------------------------------

ORD_WORDS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5,
    "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8, "ninth": 9, "9th": 9,
    "tenth": 10, "10th": 10, "last": -1, "final": -1, "latter": -1, "former": 1, "middle": 0,
}
_ITEM_NOUN = r"(?:one|ones|item|option|piece|pick|suggestion|result|choice|product|thing)"
ORD_RE = re.compile(
    rf"\b(?:(?P<det>the|that|this|your|ur|my)\s+(?:very\s+)?)?"
    rf"(?P<ord>{'|'.join(sorted(ORD_WORDS, key=len, reverse=True))})\b(?:\s+(?P<noun>{_ITEM_NOUN})\b)?"
)
ORD_REJECT_RE = re.compile(
    rf"\s+(?:{_OUTFIT_WORD}|time|times|date|week|month|year|night|season|summer|winter|autumn|spring|minute|"
    r"day|of all|place|impression|name|thing i)\b"
)
NUM_REF_RE = re.compile(
    r"(?:\b(?:number|no\.?|nr\.?|num|item|option|pick|choice|result|product)\s*#?\s*|#\s*)(?P<num>\d{1,2}|"
    r"one)\b"
)
DETERMINERS = frozenset({"the", "that", "this", "those", "these", "your", "its", "same", "ur"})
REF_ADJECTIVES = frozenset({
    "same", "other", "new", "little", "nice", "cute", "lovely", "previous", "pair", "of", "one", "shown",
    "suggested", "recommended", "very",
})
PRONOUN_RE = re.compile(r"\b(?:this one|that one|these ones|those ones|this|that|it|them|these|those)\b")
TIME_NOUNS = frozenset({
    "weekend", "evening", "week", "summer", "winter", "season", "time", "occasion", "event", "morning",
    "night",
    "year", "month", "spring", "autumn", "fall", "afternoon", "outfit", "look", "kind", "sort", "style",
    "type",
    "is", "was", "i", "you", "would", "will", "goes", "go", "looks", "the",
})
RECOMMEND_PRONOUN_RE = re.compile(
    r"\bcomplete (?:the|this|my) look\b|"
    r"\b(?:with|around|match|matches|pair|style|styling|complete|complement|to)\s+(?P<p>it|this|that|these|"
    r"those|them|this one|that one|this piece|this item|these ones)\b|"
    r"\bcomplete (?:the|this|my) look\b|^\W*(?:and\s+)?(?:what about\s+)?(?P<q>this|these)\b"
)
ANCHOR_CUE_RE = re.compile(
    r"\b(?:go(?:es)?|going|wear(?:ing)?|pair(?:s|ed|ing)?|match(?:es|ing)?|looks? good|works?|combine|style|"
    r"styling|complement|build(?: (?:an outfit|a look|something|it))?|based|built|centred|centered)\s+"
    r"(?:well\s+|nicely\s+|best\s+|great\s+)?(?:with|around|on)\b|"
    r"\bto match\b|\bmatch(?:es|ing)?\b|\baround\b|\bi (?:have|own|bought|got|already have|just bought|"
    r"already own|have got)\b|\bmy\b|\bstyle\b|\bstyling\b"
)


# Cues the rules planner's routes test (beyond the ones above).
FORGET_SPECIFIC_RE = re.compile(r"\bforget (?:that|about) (?:i|my)\b.*\b(?:like|love|hate|size|budget)\b")
YES_RE = re.compile(r"^\W*(?:yes|yeah|yep|yup|sure|ok|okay|please|go (?:on|ahead)|do it|why not|sounds good)"
                     r"(?:\W+(?:please|thanks|thank you|go ahead|do it|sure))*\W*$")
PRAISE_RE = re.compile(
    r"^\W*(?:(?:oh|wow|omg|yes|ok|okay|great|perfect)\W+)*"
    r"(?:i (?:really |absolutely |totally )?(?:love|like|adore) (?:it|this|that|them|these|those|"
    r"(?:the|this|that) (?:\w+ )?(?:one|outfit|look|combo|combination|set))|"
    r"(?:it|this|that|these|they|this \w+|that \w+) (?:is|are|looks?) (?:so |really |very |just )?"
    r"(?:great|nice|perfect|lovely|beautiful|gorgeous|amazing|good|cool|cute|stunning|fab|fabulous|brilliant))"
    r"\W*(?:thanks|thank you)?\W*$"
)
PRICE_QUESTION_RE = re.compile(r"\bhow much (?:is|are|does|do|was|were)\b|\bwhat is the price of\b|"
                                r"\bwhat does (?:it|this|that|the \w+) cost\b")
SIZE_QUESTION_RE = re.compile(r"\b(?:have|get|come|comes|available|it|this|that|them|one|ones) in "
                               r"(?:a )?size\b|\bin my size\b|\bwhat sizes?\b|\bsize (?:guide|chart)\b")

# Loose cues grounding checks a model's plan against: broader than the routing cues above, because
# they only have to show that the conversation supports an argument, not pick the route.
FORGET_CUE_RE = re.compile(
    r"\b(?:forg[a-z]*t|remove|delete|erase|wipe|clear|reset|unlearn|drop|scrap|no longer|stop rem[a-z]*|"
    r"do not rem[a-z]*|don'?t rem[a-z]*|no need to rem[a-z]*|scratch|never ?mind what i said)\b"
)
FORGET_EVERYTHING_RE = re.compile(
    r"\b(?:everything|all|about me|my data|my pro[a-z]*|my preferences|my info|my information|my details|"
    r"what you know|anything|memory|right to be forgotten)\b"
)
ANOTHER_COLOR_RE = re.compile(r"\b(?:another|different|other|new|else)\b")
PRICE_CUE_RE = re.compile(
    r"[$\u20ac\u00a3]|\b(?:under|below|less|more|above|over|least|most|max|min|maximum|minimum|up to|budget|"
    r"between|from|eur\w*|dollars?|quid|pounds?|bucks|spend|total)\b"
)
FIND_CUE_RE = re.compile(
    r"\b(?:find|search|shop|stock|real|buy|sell|similar|closest|nearest|match(?:es|ing)?|look for|what you have|"
    r"in store|carry)\b"
)
IT_RE = re.compile(r"\b(?:it|this one|that one)\b")
#: A question about an outfit shown earlier ("what was the first outfit?"); HISTORY_RE is the wider recall cue.
EARLIER_OUTFIT_QUESTION_RE = re.compile(
    r"\b(?:what|which) (?:was|were)\b[^?.!]*\b(?:first|second|third|previous|earlier|last|other) (?:outfit|look)s?\b")
#: A noun after the, that or this ("the top"): a candidate name of a shown piece.
DEFINITE_NOUN_RE = re.compile(r"\b(?:the|that|this)\s+([a-z]+)\b")
#: Words asking to change something shown (narrower than ALT_RE: no "similar", no "other options").
CHANGE_CUE_RE = re.compile(r"\b(?:swap|change|replace|switch|instead|different|another)\b")
RECALL_CUE_RE = re.compile(r"\b(?:out[a-z]*t|looks?|again|back|earlier|previous|before|remind|showed|suggested)\b")
MEMORY_CUE_RE = re.compile(
    r"\b(?:kn[a-z]*w|rem[a-z]*mb[a-z]*|remind|profile|pref[a-z]*|sav[a-z]*|stor[a-z]*|kept|keep|about me|abt me|"
    r"on me|of me|my (?:taste|style|likes|data|info)|told you|tell you|i like|memory)\b"
)
COMPARATIVE_RE = re.compile(
    r"\b(?:cheaper|less expensive|more affordable|lower price[ds]?|pricier|more expensive|dearer|"
    r"higher price[ds]?|fancier)\b"
)
