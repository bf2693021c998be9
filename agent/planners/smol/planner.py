"""The fine-tuned planner: SmolLM2-135M-Instruct with our LoRA adapter, writing compact plans.

One planning step: the view is rendered as the short compact prompt, wrapped in the chat format,
and (``native`` image route) each photo's image-encoder embedding is projected into a few prefix
tokens after its ``[photo]`` marker. The model greedily writes one compact plan line, which is
read with :func:`~agent.planners.compact.from_compact` against the offered tools and then checked
against the conversation and the catalog vocabulary: category and colour words are mapped onto
the catalog's (``jeans`` -> ``trousers``) or refused, item ids and ``#n`` references must point at
items that were shown. An invalid answer gets one repair (a beam-search re-decode, taking the best
candidate that passes every check); if none passes, the rules planner plans the step. ``stats``
counts ``calls``, ``repairs`` and ``fallbacks``.

Nothing heavy is imported or loaded until the first :meth:`SmolPlanner.plan` (or :meth:`setup`).
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.plan import ImageInfo, Plan, PlannerInput, ToolCall

__all__ = [
    "DEFAULT_WEIGHTS_DIR",
    "PLANNER_CONFIG",
    "SmolPlanner",
    "canonical_category",
    "canonical_color",
    "check_plan",
    "merge_lora",
]

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
PLANNER_CONFIG = "planner.json"
ADAPTER_CONFIG = "adapter_config.json"
WEIGHTS_ENV = "FASHIONM3_PLANNER_WEIGHTS"
QUANTIZE_ENV = "FASHIONM3_PLANNER_QUANTIZE"
ROUTE_ENV = "FASHIONM3_PLANNER_IMAGE_ROUTE"

CATEGORY_LIST_ARGS = frozenset({"categories", "exclude_categories", "include_categories"})
CATEGORY_ARGS = frozenset({"anchor_category", "category"})
COLOR_LIST_ARGS = frozenset({"colors", "exclude_colors"})
COLOR_ARGS = frozenset({"anchor_color", "color"})
ITEM_ARGS = frozenset({"item_id", "anchor_item_id"})
_REF_RE = re.compile(r"#\s*(\d+)")


# --------------------------------------------------------------------------------------------------
# Checks against the conversation and the catalog vocabulary
# --------------------------------------------------------------------------------------------------


def _lookup(value: str, canonical: tuple[str, ...], synonyms: Mapping[str, tuple[str, ...]]) -> str | None:
    word = " ".join(value.strip().lower().replace("-", " ").replace("_", " ").split())
    for c in canonical:
        if word == c.replace("_", " "):
            return c
    for c, words in synonyms.items():
        if word in (w.replace("-", " ") for w in words):
            return c
    close = difflib.get_close_matches(word, [c.replace("_", " ") for c in canonical], n=1, cutoff=0.8)
    return close[0].replace(" ", "_") if close else None


def canonical_category(value: str) -> str | None:
    """Return the catalog category a word names (``jeans`` -> ``trousers``, ``dres`` -> ``dress``), or None."""
    from agent.catalog.vocab import CATEGORIES, CATEGORY_SYNONYMS

    return _lookup(value, CATEGORIES, CATEGORY_SYNONYMS)


def canonical_color(value: str) -> str | None:
    """Return the catalog colour a word names (``gray`` -> ``grey``, ``burgundy`` -> ``red``), or None."""
    from agent.catalog.vocab import COLOR_SYNONYMS, COLORS

    return _lookup(value, tuple(COLORS), COLOR_SYNONYMS)


def _fix_categories(key: str, value: Any, tool: str) -> Any:
    from agent.catalog.vocab import CATEGORIES, GROUP_SYNONYMS
    from agent.planners.llm_common import PlanError

    values = value if isinstance(value, list) else [value]
    out: list[str] = []
    for v in values:
        text = str(v)
        group = GROUP_SYNONYMS.get(text.strip().lower())
        found = [*group] if group and key in CATEGORY_LIST_ARGS else [canonical_category(text)]
        if None in found:
            raise PlanError(f"{tool}.{key}: {text!r} is not a catalog category (categories: {', '.join(CATEGORIES)})")
        out += [c for c in found if c is not None and c not in out]
    return out if isinstance(value, list) else out[0]


def _fix_colors(key: str, value: Any, tool: str) -> Any:
    from agent.catalog.vocab import COLORS
    from agent.planners.llm_common import PlanError

    values = value if isinstance(value, list) else [value]
    out: list[str] = []
    for v in values:
        c = canonical_color(str(v))
        if c is None:
            raise PlanError(f"{tool}.{key}: {v!r} is not a catalog colour (colours: {', '.join(COLORS)})")
        if c not in out:
            out.append(c)
    return out if isinstance(value, list) else out[0]


def _fix_item(key: str, value: Any, tool: str, view: PlannerInput) -> Any:
    from agent.planners.llm_common import PlanError

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
    if value.strip().lower() in view.text.lower():
        return value.strip()
    listed = ", ".join(sorted(shown)) or "none yet"
    raise PlanError(f"{tool}.{key}: item {value!r} was never shown in this conversation (shown ids: {listed})")


def check_plan(plan: Plan, view: PlannerInput) -> Plan:
    """Return ``plan`` with its arguments mapped onto the catalog vocabulary and the items shown.

    Category and colour words are corrected to catalog ones, ``#n`` references and item ids to the
    ids of shown items; each call is then validated against the tools offered in ``view``, the
    tool's ``Args`` model and the photos attached (see :func:`agent.planners.llm_common.validate_call`).

    Raises:
        agent.planners.llm_common.PlanError: for a call that cannot be made safe (an unknown
            category or colour, an item never shown, a tool not offered, invalid arguments).
    """
    from agent.planners.llm_common import MAX_CALLS, PlanError, validate_call

    if len(plan.calls) > MAX_CALLS:
        raise PlanError(f"{len(plan.calls)} tool calls in one step; at most {MAX_CALLS}")
    calls: list[ToolCall] = []
    for call in plan.calls:
        args = dict(call.args)
        for key, value in call.args.items():
            if value is None:
                continue
            if key in CATEGORY_LIST_ARGS or key in CATEGORY_ARGS:
                args[key] = _fix_categories(key, value, call.name)
            elif key in COLOR_LIST_ARGS or key in COLOR_ARGS:
                args[key] = _fix_colors(key, value, call.name)
            elif key in ITEM_ARGS:
                args[key] = _fix_item(key, value, call.name, view)
        calls.append(validate_call(call.name, args, view))
    return plan.model_copy(update={"calls": calls})


# --------------------------------------------------------------------------------------------------
# The planner
# --------------------------------------------------------------------------------------------------


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class SmolPlanner:
    """Plan with our LoRA-fine-tuned SmolLM2 (``smol``): compact plans, checked, repaired once, else rules.

    Args:
        weights_dir: Folder with the adapter, projector and ``planner.json`` (default: the shipped
            ``agent/planners/weights``, or ``FASHIONM3_PLANNER_WEIGHTS``).
        base: Base model folder or hub id (default: what training used, else the local SmolLM2
            cache, see :func:`agent.planners.smol.base.load_base`).
        image_route: ``native`` (photo embeddings as prefix tokens) or ``text`` (the encoder's
            predicted colour and category in the prompt); default: the route the adapter was trained with.
        quantize: Apply dynamic int8 quantisation to the Linear layers (CPU only); default
            ``FASHIONM3_PLANNER_QUANTIZE``.
        adapter: Load the LoRA adapter (False runs the bare base model, for comparisons).
        repair: Try one beam-search re-decode when the greedy plan fails the checks.
        grounding: Refuse arguments the conversation does not support and take price bounds from
            the message (:mod:`agent.planners.grounding`); False keeps only the catalog checks.
        beams: Beams (and candidates) of that re-decode.
        max_new_tokens: Longest plan decoded, in tokens.
        device: ``cpu`` or ``cuda`` (default: CUDA when available).
        speculative: Decode greedily with the adapter's :class:`~agent.planners.smol.model.PlanDrafter`
            (``draft.json``) guessing tokens that one forward pass checks: the same plan in fewer passes.
        fallback: Planner used when the model's plan stays invalid (the rules planner by default).
    """

    name = "smol"

    def __init__(
        self,
        weights_dir: str | Path | None = None,
        *,
        base: str | None = None,
        image_route: str | None = None,
        quantize: bool | None = None,
        adapter: bool = True,
        repair: bool = True,
        grounding: bool | None = None,
        beams: int = 4,
        max_new_tokens: int = 48,
        device: str | None = None,
        threads: int | None = None,
        speculative: bool = True,
        fallback: Any = None,
        name: str = "smol",
    ) -> None:
        from agent.context import Context

        settings = Context.from_env()
        self.name = name
        self.weights_dir = Path(weights_dir or settings.planner_weights or DEFAULT_WEIGHTS_DIR)
        self.base = base
        self.image_route = image_route or settings.planner_image_route or None
        self.quantize = bool(settings.planner_quantize) if quantize is None else quantize
        self.use_adapter = adapter
        self.repair = repair
        self.grounding = bool(settings.planner_grounding) if grounding is None else grounding
        self.beams = beams
        self.max_new_tokens = max_new_tokens
        self.device = device
        self.threads = threads
        self._fallback = fallback
        self.stats: dict[str, int] = {"calls": 0, "repairs": 0, "fallbacks": 0}
        self.last_error: str | None = None
        self.last_text: str | None = None
        self.load_seconds = 0.0
        self.config: dict[str, Any] = {}
        self.model: Any = None
        self.tokenizer: Any = None
        self.projector: Any = None
        #: True when the shipped projector belongs to another image encoder (photos then go in as text).
        self.projector_mismatch = False
        self.speculative = speculative
        #: Guesses the plan's next tokens for speculative greedy decoding (``draft.json`` next to the adapter).
        self.drafter: Any = None
        #: Forward passes and plan tokens of the greedy decodes so far (speculative decoding only).
        self.decode_stats: dict[str, int] = {}
        self._encoder: Any = None
        self._vectors: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- loading -----------------------------------------------------------------------------------

    @classmethod
    def from_components(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        projector: Any = None,
        image_route: str = "text",
        config: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> SmolPlanner:
        """Return a planner around an already loaded model and tokenizer (tests, training evaluation)."""
        planner = cls(image_route=image_route, **kw)
        planner.model, planner.tokenizer, planner.projector = model, tokenizer, projector
        planner.config = dict(config or {})
        planner.device = planner.device or str(next(model.parameters()).device)
        return planner

    def setup(self) -> None:
        """Load the base model, merge the LoRA adapter, load the projector (idempotent).

        Raises:
            FileNotFoundError: if the adapter is missing (the message says how to train it).
            agent.planners.smol.base.BaseModelError: if the base model cannot be loaded.
        """
        if self.model is not None:
            return
        with self._lock:
            if self.model is not None:
                return
            self._load()

    def _load(self) -> None:
        import torch

        from agent.planners.smol.base import load_base
        from agent.planners.smol.model import load_projector

        start = time.perf_counter()
        if self.threads:
            torch.set_num_threads(self.threads)
        cfg_path = self.weights_dir / PLANNER_CONFIG
        self.config = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
        if self.use_adapter and not (self.weights_dir / ADAPTER_CONFIG).is_file():
            raise FileNotFoundError(
                f"no trained planner adapter in {self.weights_dir}; train it with `fashionm3 train planner` "
                "(or use --planner rules)"
            )
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        base_name = self.base or self._trained_base()
        loaded = load_base(base_name, device=device)
        model = loaded.model
        if self.use_adapter:
            model = merge_lora(model, self.weights_dir)
        model.eval()
        if self.quantize and device == "cpu":
            model = _quantize_dynamic(model)
        self.projector = load_projector(self.weights_dir) if self.use_adapter else None
        if self.speculative and self.use_adapter:
            from agent.planners.smol.model import DRAFT_FILE, PlanDrafter

            self.drafter = PlanDrafter.load(self.weights_dir / DRAFT_FILE)
        if self.projector is not None:
            self.projector.to(device)
            from agent.vision.encoder import encoder_fingerprint

            trained_with, now = str(self.config.get("encoder") or ""), encoder_fingerprint()
            if trained_with and now and trained_with != now:
                # Prefix tokens from a projector fitted to another encoder's space would be noise to the
                # LM; the adapter is also trained on the text route, so photos go in as words instead.
                log.warning("the planner's image projector was trained with another image encoder (%s, now %s); "
                            "photos go to the planner as text until `fashionm3 train planner` is rerun",
                            trained_with, now)
                self.projector = None
                self.projector_mismatch = True
        self.model, self.tokenizer, self.device = model, loaded.tokenizer, device
        self.load_seconds = time.perf_counter() - start

    def _trained_base(self) -> str | None:
        """Return the base training used when it is a hub id or an existing folder, else None (the default)."""
        trained = str(self.config.get("base") or "")
        if not trained or trained in ("default", "smollm2"):
            return None
        return trained if Path(trained).exists() or trained.count("/") == 1 else None

    @property
    def route(self) -> str:
        """Return the image route in use (``native`` needs a trained projector)."""
        route = self.image_route or str(self.config.get("image_route") or "text")
        if route not in ("native", "text"):
            raise ValueError(f"image_route must be 'native' or 'text', not {route!r}")
        if route == "native" and self.projector_mismatch:
            return "text"
        return route

    @property
    def fallback(self) -> Any:
        """Return the planner used when the model's plan stays invalid."""
        if self._fallback is None:
            from agent.planners.rules import RulesPlanner

            self._fallback = RulesPlanner()
        return self._fallback

    # -- inputs ------------------------------------------------------------------------------------

    def _image_vector(self, image: ImageInfo) -> Any:
        """Return the image encoder's 384-d embedding of a photo (cached by content hash)."""
        import torch

        if image.sha256 not in self._vectors:
            from agent.planners.smol.model import IMAGE_DIM, photo_is_usable
            from agent.vision.encoder import ImageEncoder, load_image

            if not photo_is_usable(image):
                self._vectors[image.sha256] = torch.zeros(IMAGE_DIM)
                return self._vectors[image.sha256]
            if self._encoder is None:
                self._encoder = ImageEncoder.load()
            try:
                vec = self._encoder.encode([load_image(image.path)])[0]
            except (OSError, ValueError) as exc:
                log.warning("smol planner: cannot read photo %s (%s); using an empty image", image.path, exc)
                vec = [0.0] * IMAGE_DIM
            self._vectors[image.sha256] = torch.tensor(vec, dtype=torch.float32)
        return self._vectors[image.sha256]

    def encode_view(self, view: PlannerInput) -> Any:
        """Return the ``(1, T, H)`` input embeddings of the prompt for ``view``."""
        return self._encode(view)[1]

    def _encode(self, view: PlannerInput) -> tuple[list[int], Any]:
        """Return the prompt's token ids (image slots hold the pad id) and its ``(1, T, H)`` input embeddings."""
        import torch

        from agent.planners.compact import render_prompt
        from agent.planners.smol.model import build_embeds, encode_example, photo_offsets

        native = self.route == "native" and self.projector is not None
        prompt = render_prompt(view, image_text=not native)
        enc = encode_example(
            self.tokenizer,
            prompt,
            photos=photo_offsets(prompt, view) if native else (),
            k=self.projector.k if native else 0,
            max_prompt_tokens=int(self.config.get("max_prompt_tokens", 160)),
        )
        ids = torch.tensor([enc.input_ids], device=self.device)
        vectors = torch.stack([self._image_vector(i) for i in enc.images]) if enc.images else None
        return enc.input_ids, build_embeds(self.model, ids, [enc.slots], vectors, self.projector)

    # -- planning ----------------------------------------------------------------------------------

    def reading(self, view: PlannerInput) -> Plan | None:
        """Return the fallback's plan of a step when grounding is on, else None.

        Computed once per step: grounding completes the model's plan from it, and it is the answer
        when no decoded plan passes.
        """
        return self.fallback.plan(view) if self.grounding else None

    def _accept(self, text: str, view: PlannerInput, reading: Plan | None) -> Plan:
        """Read, check and complete one decoded plan (raises on anything invalid).

        ``reading`` is the fallback's plan of the same step (with grounding on): arguments the model
        dropped are completed from it.
        """
        from agent.planners.compact import fill_reply, from_compact
        from agent.planners.grounding import complete_plan, ground_plan
        from agent.planners.llm_common import PlanError
        from tools import discover

        offered = {name: cls.Args for name, cls in discover().items() if name in view.tools}
        plan = check_plan(from_compact(text, offered), view)
        if reading is not None:
            plan = complete_plan(ground_plan(plan, view), reading)
            if plan.intent == "clarify" and not plan.calls and any(c.name == "virtual_try_on" for c in reading.calls):
                # the model asks for a photo of the shopper while one is attached and the item is clear
                raise PlanError("clarify is not grounded: the try-on has a person photo and an item")
        facts = [f.model_copy(update={"source_turn": view.turn}) for f in plan.facts]
        return fill_reply(plan.model_copy(update={"facts": facts}), view)

    def plan(self, view: PlannerInput) -> Plan:
        """Return a checked plan from the model, after at most one repair, else the fallback's plan.

        A continuation step (tool results already in ``view``) is closed by the rules planner: the
        model is trained on first steps only, and every compact plan it writes is final unless it
        says ``more``.
        """
        from agent.planners.compact import CompactPlanError
        from agent.planners.llm_common import PlanError
        from agent.planners.smol.model import generate

        if view.step > 0 and view.results:
            return self.fallback.plan(view)
        self.setup()
        self.stats["calls"] += 1
        self.last_error = None
        reading = self.reading(view)
        prompt_ids, embeds = self._encode(view)
        text = generate(self.model, self.tokenizer, embeds, max_new_tokens=self.max_new_tokens,
                        drafter=self.drafter, prompt_ids=prompt_ids, stats=self.decode_stats)[0]
        self.last_text = text
        try:
            return self._accept(text, view, reading)
        except (CompactPlanError, PlanError) as exc:
            error: Exception = exc
        log.info("smol planner: invalid plan %r (%s)", text, error)
        if self.repair and self.beams > 1:
            self.stats["repairs"] += 1
            candidates = generate(self.model, self.tokenizer, embeds, max_new_tokens=self.max_new_tokens,
                                  num_beams=self.beams, num_return=self.beams)
            for candidate in candidates:
                if candidate == text:
                    continue
                try:
                    plan = self._accept(candidate, view, reading)
                except (CompactPlanError, PlanError) as exc:
                    error = exc
                    continue
                self.last_text = candidate
                return plan
        log.warning("smol planner: no valid plan (%s); using the rules planner", error)
        self.last_error = str(error)
        self.stats["fallbacks"] += 1
        return reading if reading is not None else self.fallback.plan(view)


def merge_lora(model: Any, weights_dir: str | Path) -> Any:
    """Return ``model`` with the LoRA adapter in ``weights_dir`` merged into its Linear weights.

    Plain LoRA (no DoRA, no rank-stabilised scaling) is merged directly, ``W += alpha/r * B @ A``,
    which is much faster than building the peft wrapper; other adapter kinds go through peft.
    """
    import torch
    from safetensors.torch import load_file

    folder = Path(weights_dir)
    cfg = json.loads((folder / ADAPTER_CONFIG).read_text())
    if cfg.get("use_dora") or cfg.get("use_rslora") or cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    scale = float(cfg["lora_alpha"]) / float(cfg["r"])
    state = load_file(str(folder / "adapter_model.safetensors"))
    modules = dict(model.named_modules())
    merged = 0
    with torch.no_grad():
        for key, a in state.items():
            if not key.endswith(".lora_A.weight"):
                continue
            name = key[: -len(".lora_A.weight")].removeprefix("base_model.model.")
            b = state[key.replace(".lora_A.", ".lora_B.")]
            target = modules.get(name)
            if target is None or not hasattr(target, "weight"):
                raise ValueError(f"the adapter in {folder} does not fit this base model (no layer {name!r})")
            w = target.weight
            w += (scale * (b.float() @ a.float())).to(device=w.device, dtype=w.dtype)
            merged += 1
    if not merged:
        raise ValueError(f"no LoRA weights in {folder / 'adapter_model.safetensors'}")
    return model


def _quantize_dynamic(model: Any) -> Any:
    """Return ``model`` with its Linear layers dynamically quantised to int8 (CPU inference)."""
    import torch

    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError:  # pragma: no cover - very old or very new torch
        log.warning("torch.ao.quantization is unavailable; the planner runs in float32")
        return model
    return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
