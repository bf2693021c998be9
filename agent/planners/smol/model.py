"""The planner LM's inputs: the chat-wrapped compact prompt, image prefix tokens, and greedy/beam decoding.

Shared by training (:mod:`training.planner.train`) and inference (:class:`SmolPlanner`), so both
tokenise a view in exactly the same way:

* the prompt is :func:`agent.planners.compact.render_prompt` of the view, wrapped in the tokenizer's
  chat format (ChatML without a system message for SmolLM2), truncated from the left so that the
  prompt stays within ``max_prompt_tokens``;
* in the ``native`` image route the prompt says ``[photo]`` (``[generated]``, ``[try-on]``) where a
  photo is, and ``k`` slots follow each such marker; their input embeddings are replaced by the
  :class:`ImageProjector`'s projection of the photo's image-encoder embedding (LLaVA-style);
* in the ``text`` route the marker carries the encoder's predicted colour and category as text.

Importing this module imports torch; the planner imports it lazily.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from agent.plan import ImageInfo, PlannerInput

if TYPE_CHECKING:
    from agent.planners.smol.constrain import PlanGrammar

__all__ = [
    "DEFAULT_PREFIX_TOKENS",
    "IMAGE_DIM",
    "PROJECTOR_CONFIG",
    "PROJECTOR_FILE",
    "Encoded",
    "ImageProjector",
    "ImageRoute",
    "build_embeds",
    "chat_parts",
    "collate",
    "encode_example",
    "PlanDrafter",
    "PrefixCache",
    "generate",
    "generate_batch",
    "load_projector",
    "photo_is_usable",
    "photo_offsets",
    "prompt_images",
    "save_projector",
]

ImageRoute = Literal["native", "text"]
IMAGE_DIM = 384
DEFAULT_PREFIX_TOKENS = 3
PROJECTOR_FILE = "projector.safetensors"
PROJECTOR_CONFIG = "projector.json"
_EARLIER_RE = re.compile(r"^earlier \[(?:photo|generated|try-on)\]", re.MULTILINE)
_TRAILING_RE = re.compile(r"(?: \[(?:photo|generated|try-on)\])+$")
_MARKER_RE = re.compile(r"\[(?:photo|generated|try-on)\]")
_SENTINEL = "\x00PROMPT\x00"


class ImageProjector(nn.Module):
    """Map one image-encoder embedding (384-d) to ``k`` vectors in the LM's input-embedding space."""

    def __init__(self, in_dim: int = IMAGE_DIM, hidden: int = 576, k: int = DEFAULT_PREFIX_TOKENS) -> None:
        super().__init__()
        self.in_dim, self.hidden, self.k = in_dim, hidden, k
        self.proj = nn.Linear(in_dim, k * hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``(n, k, hidden)`` prefix embeddings for ``(n, in_dim)`` image embeddings."""
        return self.proj(x).view(x.shape[0], self.k, self.hidden)

    def config(self) -> dict[str, int]:
        """Return the constructor arguments (saved next to the weights)."""
        return {"in_dim": self.in_dim, "hidden": self.hidden, "k": self.k}


def save_projector(projector: ImageProjector, folder: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write the projector's weights (float16) and config to ``folder``."""
    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in projector.state_dict().items()}
    save_file(state, str(out / PROJECTOR_FILE), metadata={"format": "pt"})
    (out / PROJECTOR_CONFIG).write_text(json.dumps({**projector.config(), **(extra or {})}, indent=1) + "\n")


def load_projector(folder: str | Path) -> ImageProjector | None:
    """Return the projector saved in ``folder`` (float32), or ``None`` when there is none."""
    from safetensors.torch import load_file

    path = Path(folder)
    if not (path / PROJECTOR_FILE).is_file():
        return None
    cfg = json.loads((path / PROJECTOR_CONFIG).read_text())
    projector = ImageProjector(int(cfg["in_dim"]), int(cfg["hidden"]), int(cfg["k"]))
    projector.load_state_dict({k: v.float() for k, v in load_file(str(path / PROJECTOR_FILE)).items()})
    projector.eval()
    return projector


# --------------------------------------------------------------------------------------------------
# Prompt and tokens
# --------------------------------------------------------------------------------------------------


_PER_TOKENIZER: dict[tuple[str, int], tuple[Any, Any]] = {}


def _per_tokenizer(kind: str, tokenizer: Any, compute: Callable[[Any], Any]) -> Any:
    """Return ``compute(tokenizer)``, computed once per tokenizer object (not per equal id)."""
    key = (kind, id(tokenizer))
    cached = _PER_TOKENIZER.get(key)
    if cached is not None and cached[0] is tokenizer:
        return cached[1]
    value = compute(tokenizer)
    _PER_TOKENIZER[key] = (tokenizer, value)
    return value


def chat_parts(tokenizer: Any) -> tuple[str, str]:
    """Return the text before and after the user's prompt in the model's chat format (short).

    ChatML tokenizers (SmolLM2, Qwen) get a bare ``user`` turn without the default system message;
    others use their chat template with a single user message; plain LMs get the prompt and a newline.
    Computed once per tokenizer (reading the vocabulary costs tens of milliseconds).
    """
    parts: tuple[str, str] = _per_tokenizer("chat_parts", tokenizer, _chat_parts)
    return parts


def _chat_parts(tokenizer: Any) -> tuple[str, str]:
    vocab = tokenizer.get_vocab()
    if "<|im_start|>" in vocab and "<|im_end|>" in vocab:
        return "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": _SENTINEL}], tokenize=False, add_generation_prompt=True
        )
        if isinstance(text, str) and _SENTINEL in text:
            before, _, after = text.partition(_SENTINEL)
            bos = getattr(tokenizer, "bos_token", None)
            if bos and before.startswith(bos):
                before = before[len(bos):]
            return before, after
    return "", "\n"


def photo_is_usable(image: ImageInfo) -> bool:
    """Tell whether a photo's embedding is given to the model (else a zero vector stands for it).

    Only photos the encoder recognised a garment in (``category`` set) and whose file exists: a
    person photo for try-on carries no garment to project, and training and inference must agree.
    """
    return bool(image.category) and Path(image.path).is_file()


def prompt_images(view: PlannerInput) -> list[ImageInfo]:
    """Return the images :func:`render_prompt` mentions, in prompt order (an earlier photo, then this turn's)."""
    new = {i.sha256 for i in view.new_images}
    older = [i for i in view.images if i.sha256 not in new]
    return ([older[-1]] if older else []) + list(view.new_images)


def photo_offsets(prompt: str, view: PlannerInput) -> list[tuple[int, ImageInfo]]:
    """Return ``(character offset just after the marker, image)`` for each photo marker of a native prompt.

    Only the structural markers count (the ``earlier [photo]`` line and the markers appended to the
    message), so a shopper typing ``[photo]`` cannot move an image.
    """
    images = prompt_images(view)
    new = {i.sha256 for i in view.new_images}
    out: list[tuple[int, ImageInfo]] = []
    earlier = [i for i in images if i.sha256 not in new]
    if earlier:
        m = _EARLIER_RE.search(prompt)
        if m:
            out.append((m.end(), earlier[0]))
    if view.new_images:
        tail = _TRAILING_RE.search(prompt)
        if tail:
            ends = [tail.start() + m.end() for m in _MARKER_RE.finditer(tail.group(0))]
            for end, image in zip(ends[-len(view.new_images):], view.new_images, strict=False):
                out.append((end, image))
    return out


@dataclass
class Encoded:
    """One tokenised example: ids (slots hold the pad id), where image slots start, and the labels."""

    input_ids: list[int]
    slots: list[int] = field(default_factory=list)
    images: list[ImageInfo] = field(default_factory=list)
    labels: list[int] | None = None
    truncated: bool = False


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def encode_example(
    tokenizer: Any,
    prompt: str,
    *,
    photos: Sequence[tuple[int, ImageInfo]] = (),
    k: int = DEFAULT_PREFIX_TOKENS,
    target: str | None = None,
    max_prompt_tokens: int = 128,
    max_target_tokens: int = 64,
) -> Encoded:
    """Tokenise a prompt (and, for training, its target) for the planner LM.

    ``photos`` are ``(offset, image)`` pairs from :func:`photo_offsets`; ``k`` slots are inserted at
    each offset. The prompt body is truncated from the left to ``max_prompt_tokens`` (a photo whose
    slots would be cut is dropped whole). With ``target``, the target tokens and EOS follow the
    prompt and ``labels`` mask everything else with -100.
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    before, after = chat_parts(tokenizer)
    body: list[int] = []
    slot_at: list[tuple[int, ImageInfo]] = []
    cursor = 0
    for offset, image in sorted(photos, key=lambda p: p[0]):
        body += _ids(tokenizer, prompt[cursor:offset])
        slot_at.append((len(body), image))
        body += [pad] * k
        cursor = offset
    body += _ids(tokenizer, prompt[cursor:])
    cut = max(0, len(body) - max_prompt_tokens)
    for start, _ in slot_at:
        if start < cut < start + k:
            cut = start + k
    body = body[cut:]
    head = _ids(tokenizer, before)
    kept = [(start - cut + len(head), image) for start, image in slot_at if start >= cut]
    ids = head + body + _ids(tokenizer, after)
    labels = None
    if target is not None:
        tgt = _ids(tokenizer, target)[:max_target_tokens] + [tokenizer.eos_token_id]
        labels = [-100] * len(ids) + tgt
        ids = ids + tgt
    return Encoded(
        input_ids=ids, slots=[s for s, _ in kept], images=[i for _, i in kept], labels=labels, truncated=cut > 0
    )


def collate(batch: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch: ``input_ids``, ``attention_mask`` and (when present) ``labels``."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        mask[row, :n] = 1
        if e.labels is not None:
            labels[row, :n] = torch.tensor(e.labels)
    out = {"input_ids": ids, "attention_mask": mask}
    if any(e.labels is not None for e in batch):
        out["labels"] = labels
    return out


def build_embeds(
    model: Any,
    input_ids: torch.Tensor,
    slots: Sequence[Sequence[int]] = (),
    image_vectors: torch.Tensor | None = None,
    projector: ImageProjector | None = None,
) -> torch.Tensor:
    """Return the input embeddings of ``input_ids`` with each image's prefix written into its slots.

    ``slots[b]`` lists the slot starts of row ``b``; ``image_vectors`` holds one 384-d vector per slot
    start, in row-major order.
    """
    embeds = model.get_input_embeddings()(input_ids)
    n = sum(len(s) for s in slots)
    if not n:
        return embeds
    if projector is None or image_vectors is None or image_vectors.shape[0] != n:
        raise ValueError(f"{n} image slots need {n} image vectors and a projector")
    prefix = projector(image_vectors.to(device=embeds.device, dtype=projector.proj.weight.dtype))
    prefix = prefix.to(embeds.dtype)
    embeds = embeds.clone()
    j = 0
    for row, starts in enumerate(slots):
        for start in starts:
            embeds[row, start : start + projector.k] = prefix[j]
            j += 1
    return embeds


# --------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------


def _newline_ids(tokenizer: Any) -> frozenset[int]:
    """Return the ids of tokens whose text holds a line break (computed once per tokenizer)."""

    def compute(tok: Any) -> frozenset[int]:
        return frozenset(i for i in tok.get_vocab().values() if "\n" in tok.decode([i]))

    ids: frozenset[int] = _per_tokenizer("newlines", tokenizer, compute)
    return ids


DRAFT_FILE = "draft.json"
_START = -1


class PlanDrafter:
    """Guess the next tokens of a compact plan, for speculative greedy decoding (no second model).

    Two sources, tried in turn for each guessed token:

    * a table from the training plans: the usual next token after the last 3, 2 or 1 tokens of the
      plan so far, kept only where it follows that context at least ``min_count`` times and in at least
      ``min_share`` of the cases (tool names, argument keys, catalog values: ``anchor`` -> ``_category=``);
    * the prompt: when the last 3 or 2 plan tokens occur in the prompt, the token that follows them
      there (argument values copied from the message, item ids from the ``shown:`` line).

    The model checks all guesses in one forward pass and keeps the longest prefix it agrees with, so
    the decoded plan is the greedy one; guesses only save forward passes.
    """

    def __init__(self, table: dict[tuple[int, ...], int], max_n: int = 3) -> None:
        self.table = table
        self.max_n = max_n

    @classmethod
    def from_texts(cls, tokenizer: Any, texts: Sequence[str], *, max_n: int = 3, min_count: int = 2,
                   min_share: float = 0.6) -> PlanDrafter:
        """Build the table from plan texts (the training targets)."""
        from collections import Counter, defaultdict

        counts: dict[tuple[int, ...], Counter[int]] = defaultdict(Counter)
        for text in texts:
            ids = [_START, *_ids(tokenizer, text), tokenizer.eos_token_id]
            for i in range(1, len(ids)):
                for n in range(1, max_n + 1):
                    if i - n >= 0:
                        counts[tuple(ids[i - n : i])][ids[i]] += 1
        table: dict[tuple[int, ...], int] = {}
        for ctx, c in counts.items():
            token, count = c.most_common(1)[0]
            if count >= min_count and count / sum(c.values()) >= min_share:
                table[ctx] = token
            else:
                table[ctx] = _START  # known context, no confident guess: do not back off to a shorter one
        return cls(table, max_n)

    def save(self, path: str | Path) -> None:
        """Write the table as JSON (``"3,17,42": 9``)."""
        data = {"max_n": self.max_n, "table": {",".join(map(str, k)): v for k, v in self.table.items()}}
        Path(path).write_text(json.dumps(data, separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> PlanDrafter | None:
        """Return the drafter saved at ``path``, or None when there is none."""
        p = Path(path)
        if not p.is_file():
            return None
        data = json.loads(p.read_text())
        table = {tuple(int(x) for x in k.split(",")): int(v) for k, v in data["table"].items()}
        return cls(table, int(data.get("max_n", 3)))

    def propose(self, prompt: Sequence[int], out: Sequence[int], k: int) -> list[int]:
        """Return up to ``k`` guessed tokens to follow ``out`` (the plan so far) given the prompt ids."""
        seq = [_START, *out]
        draft: list[int] = []
        for _ in range(k):
            guess = self._from_table(seq)
            if guess is None:
                guess = self._from_prompt(prompt, seq)
            if guess is None:
                break
            draft.append(guess)
            seq.append(guess)
        return draft

    def _from_table(self, seq: Sequence[int]) -> int | None:
        for n in range(min(self.max_n, len(seq)), 0, -1):
            token = self.table.get(tuple(seq[-n:]))
            if token is not None:
                return None if token == _START else token
        return None

    @staticmethod
    def _from_prompt(prompt: Sequence[int], seq: Sequence[int]) -> int | None:
        for m in (3, 2):
            if len(seq) <= m:
                continue
            key = list(seq[-m:])
            for j in range(len(prompt) - m - 1, -1, -1):
                if list(prompt[j : j + m]) == key:
                    return int(prompt[j + m])
        return None


_CACHE_ARGS: dict[type, str] = {}


def _cache_arg(model_class: type) -> str:
    """Return the name of the KV-cache argument of a model class's forward (read once per class, off the hot path).

    transformers 5.x names it ``cache`` (and deprecates ``past_key_values``); older versions do not have it.
    """
    if model_class not in _CACHE_ARGS:
        import inspect

        params = inspect.signature(getattr(model_class, "forward")).parameters  # noqa: B009 - mypy: type has no forward
        _CACHE_ARGS[model_class] = "cache" if "cache" in params else "past_key_values"
    return _CACHE_ARGS[model_class]


def _out_cache(out: Any) -> Any:
    """Return a model output's KV cache (``cache`` in transformers 5, ``past_key_values`` before)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


class PrefixCache:
    """The KV caches of the last few prompts, so a prompt that starts like one of them skips that prefill.

    Every prompt starts with the chat header, and steps of one conversation (a repeated message, a
    re-decode, the service's retries) often share much more. :meth:`lookup` returns a copy of the
    cache of the longest shared prefix (at least ``min_tokens``, never the whole prompt: the last
    token is always run to get its logits); :meth:`store` keeps a prompt's cache right after its
    prefill. Image slots end the reusable part (their embeddings are not in the token ids).
    ``counts``: ``lookups``, ``hits``, ``reused_tokens``, ``prompt_tokens``.
    """

    def __init__(self, entries: int = 8, min_tokens: int = 2) -> None:
        from collections import OrderedDict

        self.entries, self.min_tokens = entries, min_tokens
        self._kept: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {"lookups": 0, "hits": 0, "reused_tokens": 0, "prompt_tokens": 0}

    def lookup(self, ids: Sequence[int], limit: int) -> tuple[int, Any]:
        """Return ``(n, cache)``: a copy of the cache of the first ``n`` ids (``n <= limit``), or ``(0, None)``."""
        with self._lock:
            return self._lookup(ids, limit)

    def _lookup(self, ids: Sequence[int], limit: int) -> tuple[int, Any]:
        import copy

        limit = min(limit, len(ids) - 1)
        best, best_key = 0, None
        for key in self._kept:
            n = 0
            for a, b in zip(key, ids[:limit], strict=False):
                if a != b:
                    break
                n += 1
            if n > best:
                best, best_key = n, key
        self.counts["lookups"] += 1
        self.counts["prompt_tokens"] += len(ids)
        if best_key is None or best < self.min_tokens:
            return 0, None
        self._kept.move_to_end(best_key)
        cache = copy.deepcopy(self._kept[best_key])
        if cache.get_seq_length() > best:
            cache.crop(best - cache.get_seq_length())
        self.counts["hits"] += 1
        self.counts["reused_tokens"] += best
        return best, cache

    def store(self, ids: Sequence[int], limit: int, cache: Any) -> None:
        """Keep a copy of ``cache`` (the prefill of ``ids``) for its first ``limit`` tokens."""
        import copy

        if limit < self.min_tokens:
            return
        kept = copy.deepcopy(cache)
        if kept.get_seq_length() > limit:
            kept.crop(limit - kept.get_seq_length())
        key = tuple(ids[:limit])
        with self._lock:
            self._kept[key] = kept
            self._kept.move_to_end(key)
            while len(self._kept) > self.entries:
                self._kept.popitem(last=False)


def _count(stats: dict[str, int], **counts: int) -> None:
    for key, value in counts.items():
        stats[key] = stats.get(key, 0) + value


@torch.inference_mode()
def _speculative_greedy(model: Any, tokenizer: Any, embeds: torch.Tensor, prompt_ids: Sequence[int],
                        drafter: PlanDrafter | None, max_new_tokens: int, k: int, stats: dict[str, int] | None,
                        prefix: PrefixCache | None = None, reusable: int | None = None,
                        grammar: PlanGrammar | None = None) -> str:
    """Greedy decoding that checks the drafter's guesses in one forward pass per step (see :class:`PlanDrafter`).

    With a ``grammar`` each position takes its best token that keeps the plan valid
    (:meth:`PlanGrammar.choose`); a drafted token is accepted only when it is that token.
    """
    stop = _newline_ids(tokenizer) | {tokenizer.eos_token_id}

    def pick(logits: torch.Tensor, before: Sequence[int]) -> int:
        if grammar is None:
            return int(logits.argmax())
        return grammar.choose(tokenizer, before, logits, stop)

    cache_arg = _cache_arg(type(model))
    t0 = time.perf_counter()
    reusable = min(len(prompt_ids), reusable if reusable is not None else len(prompt_ids))
    if len(prompt_ids) != embeds.shape[1]:
        prefix, reusable = None, 0  # ids that do not line up with the embeddings: nothing to match
    done, cache = prefix.lookup(prompt_ids, reusable) if prefix is not None else (0, None)
    if cache is not None:
        out = model(inputs_embeds=embeds[:, done:], use_cache=True, logits_to_keep=1, **{cache_arg: cache})
    else:
        out = model(inputs_embeds=embeds, use_cache=True, logits_to_keep=1)  # only the last position's logits
    cache = _out_cache(out)
    if prefix is not None:
        prefix.store(prompt_ids, reusable, cache)
    start = embeds.shape[1]
    nxt = pick(out.logits[0, -1], [])
    t1 = time.perf_counter()
    generated: list[int] = []
    forwards = 1
    while nxt not in stop and len(generated) < max_new_tokens:
        generated.append(nxt)
        if len(generated) >= max_new_tokens:
            break
        draft = drafter.propose(prompt_ids, generated, min(k, max_new_tokens - len(generated))) if drafter else []
        ids = torch.tensor([[nxt, *draft]], device=embeds.device)
        out = model(input_ids=ids, use_cache=True, **{cache_arg: cache})
        forwards += 1
        cache = _out_cache(out)
        if grammar is None:
            preds = out.logits[0].argmax(-1).tolist()
            accepted = 0
            while accepted < len(draft) and preds[accepted] == draft[accepted] and draft[accepted] not in stop:
                accepted += 1
            nxt = int(preds[accepted])
        else:
            accepted = 0
            nxt = pick(out.logits[0, 0], generated)
            while accepted < len(draft) and nxt == draft[accepted] and draft[accepted] not in stop:
                accepted += 1
                nxt = pick(out.logits[0, accepted], [*generated, *draft[:accepted]])
        generated.extend(draft[:accepted])
        if accepted < len(draft):
            cache.crop(-(len(draft) - accepted))  # negative: drop that many of the newest tokens (all versions)
            assert cache.get_seq_length() == start + len(generated)
    if stats is not None:
        _count(stats, forwards=forwards, tokens=len(generated), decodes=1, prefill_tokens=start - done,
               prefill_us=int((t1 - t0) * 1e6), decode_us=int((time.perf_counter() - t1) * 1e6))
    text = tokenizer.decode(generated[:max_new_tokens], skip_special_tokens=True)
    return str(text).split("\n", 1)[0].strip()


@torch.inference_mode()
def generate(
    model: Any,
    tokenizer: Any,
    embeds: torch.Tensor,
    *,
    max_new_tokens: int = 48,
    num_beams: int = 1,
    num_return: int = 1,
    drafter: PlanDrafter | None = None,
    prompt_ids: Sequence[int] = (),
    draft_tokens: int = 8,
    stats: dict[str, int] | None = None,
    prefix: PrefixCache | None = None,
    reusable: int | None = None,
    cache: Any = None,
    grammar: PlanGrammar | None = None,
) -> list[str]:
    """Decode one prompt (``(1, T, H)`` embeddings): greedy, or beam search returning ``num_return`` texts.

    Decoding stops at EOS or at the first line break (a compact plan is one line). Greedy decoding
    with a ``drafter`` checks up to ``draft_tokens`` guessed tokens per forward pass (same plan,
    fewer passes); ``prompt_ids`` are the prompt's token ids it may copy from, and ``stats`` (when
    given) counts ``forwards``, ``tokens``, ``prefill_tokens`` and the microseconds of both phases.
    With a ``prefix`` cache the greedy decode starts from the cache of the longest prefix it shares
    with a recent prompt (up to ``reusable`` tokens: the first image slot) and keeps its own. Beam
    search takes the ``cache`` of a prefix of the prompt (one row; consumed), so it does not run
    the prompt again for every beam (the same beams, about a second less on this CPU). With a
    ``grammar`` (:class:`~agent.planners.smol.constrain.PlanGrammar`) every decode, greedy or beam,
    writes only valid compact plans.
    """
    if num_beams == 1 and (drafter is not None or prefix is not None):
        return [_speculative_greedy(model, tokenizer, embeds, prompt_ids, drafter, max_new_tokens, draft_tokens,
                                    stats, prefix, reusable, grammar)]
    from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

    newline_ids = _newline_ids(tokenizer)

    class _StopAtNewline(StoppingCriteria):
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
            last = input_ids[:, -1].tolist()
            stop = torch.tensor([t in newline_ids for t in last], dtype=torch.bool, device=input_ids.device)
            return stop  # type: ignore[return-value]

    mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    if cache is not None and 0 < cache.get_seq_length() < embeds.shape[1]:
        if num_beams > 1:
            cache.batch_repeat_interleave(num_beams)
        extra[_cache_arg(type(model))] = cache
    if grammar is not None:
        from agent.planners.smol.constrain import grammar_logits_processor

        stop_ids = frozenset(newline_ids | {tokenizer.eos_token_id})
        extra["logits_processor"] = LogitsProcessorList([grammar_logits_processor(grammar, tokenizer, stop_ids)])
    out = model.generate(
        inputs_embeds=embeds,
        attention_mask=mask,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=num_beams,
        num_return_sequences=min(num_return, num_beams),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        stopping_criteria=StoppingCriteriaList([_StopAtNewline()]),
        temperature=None,
        top_p=None,
        top_k=None,
        **extra,
    )
    if stats is not None:
        key = "beam" if num_beams > 1 else "plain"
        _count(stats, **{f"{key}_decodes": 1, f"{key}_us": int((time.perf_counter() - t0) * 1e6)})
    texts = tokenizer.batch_decode(out, skip_special_tokens=True)
    return [t.split("\n", 1)[0].strip() for t in texts]


#: Most prompts prefilled together in one padded forward pass (:func:`_prefill_rows`). Rows are grouped by
#: length, so a group of 8 pads little; on this 2-core CPU it prefilled 32 prompts of 60-110 tokens in
#: 4.6 s against 7.0 s one by one (bigger matrix products; 32 in one group: 5.1 s, more padding).
PREFILL_GROUP = 8


def _prefill_rows(model: Any, embeds: Sequence[torch.Tensor], width: int,
                  pick: Callable[[int, torch.Tensor], int] | None = None,
                  group: int = PREFILL_GROUP) -> tuple[Any, torch.Tensor]:
    """Prefill the prompts in length-sorted groups of up to ``group`` and stack the caches left-padded to ``width``.

    Prompts of a batch differ in length (20 to 120 tokens); one padded prefill would run every row at
    the longest length, one prefill per row runs small matrix products. Rows of similar length are
    prefilled together, left-padded within their group (the attention mask and position ids make each
    row's result its own, up to float rounding). Returns the batch cache (padding slots zero; the
    attention mask hides them) and the first generated token of each row (``pick(row, logits)`` or argmax).
    """
    order = sorted(range(len(embeds)), key=lambda i: int(embeds[i].shape[1]))
    row_kv: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    first: dict[int, torch.Tensor] = {}
    template: Any = None
    for g in range(0, len(order), max(1, group)):
        rows = order[g : g + max(1, group)]
        lengths = [int(embeds[i].shape[1]) for i in rows]
        span = max(lengths)
        if len(rows) == 1:
            out = model(inputs_embeds=embeds[rows[0]], use_cache=True, logits_to_keep=1)
        else:
            sample = embeds[rows[0]]
            x = sample.new_zeros(len(rows), span, sample.shape[-1])
            mask = torch.zeros((len(rows), span), dtype=torch.long, device=sample.device)
            for r, (i, n) in enumerate(zip(rows, lengths, strict=True)):
                x[r, span - n :] = embeds[i][0]
                mask[r, span - n :] = 1
            position = (mask.cumsum(-1) - 1).clamp(min=0)
            out = model(inputs_embeds=x, attention_mask=mask, position_ids=position, use_cache=True,
                        logits_to_keep=1)
        cache = _out_cache(out)
        template = template if template is not None else cache
        for r, (i, n) in enumerate(zip(rows, lengths, strict=True)):
            # this row's own slots only: the padding slots of a padded prefill are dropped, not trusted
            row_kv[i] = [(layer.keys[r : r + 1, ..., span - n :, :], layer.values[r : r + 1, ..., span - n :, :])
                         for layer in cache.layers]
            logits = out.logits[r, -1]
            first[i] = torch.tensor(pick(i, logits)) if pick else logits.argmax()
    for index, layer in enumerate(template.layers):
        keys, values = [], []
        for i in range(len(embeds)):
            k, v = row_kv[i][index]
            gap = width - k.shape[-2]
            if gap:
                k = torch.cat([k.new_zeros(*k.shape[:-2], gap, k.shape[-1]), k], dim=-2)
                v = torch.cat([v.new_zeros(*v.shape[:-2], gap, v.shape[-1]), v], dim=-2)
            keys.append(k)
            values.append(v)
        layer.keys, layer.values = torch.cat(keys, dim=0), torch.cat(values, dim=0)
    return template, torch.stack([first[i] for i in range(len(embeds))])


@torch.inference_mode()
def generate_batch(model: Any, tokenizer: Any, embeds: Sequence[torch.Tensor], *, max_new_tokens: int = 48,
                   stats: dict[str, int] | None = None,
                   grammars: Sequence[PlanGrammar | None] | None = None) -> list[str]:
    """Greedy-decode several prompts (each ``(1, T_i, H)`` embeddings) as one left-padded batch.

    The prompts are prefilled in groups of similar length (:func:`_prefill_rows`), the caches stacked left-padded,
    then one forward pass per token serves all rows together (a pass of 32 one-token rows costs about
    what a pass of 8 speculative tokens of one row does: the weights are read once). A row stops at EOS or
    its first line break and leaves the batch (its cache rows are dropped), so a long plan does not
    make the short ones pay. Each row's text is the greedy plan of its prompt alone, up to float
    rounding in the padded matrix products (equal on the tested prompts). ``stats`` counts
    ``batches``, ``batch_rows``, ``batch_forwards``, ``batch_tokens`` and ``batch_us``. ``grammars``
    (one per prompt, or None) constrain each row as :func:`generate` does.
    """
    t0 = time.perf_counter()
    stop = _newline_ids(tokenizer) | {tokenizer.eos_token_id}
    rules = list(grammars) if grammars is not None else [None] * len(embeds)

    def pick(row: int, logits: torch.Tensor) -> int:
        grammar = rules[row]
        if grammar is None:
            return int(logits.argmax())
        return grammar.choose(tokenizer, generated[row], logits, stop)

    cache_arg = _cache_arg(type(model))
    rows, width = len(embeds), max(int(e.shape[1]) for e in embeds)
    device = embeds[0].device
    mask = torch.zeros((rows, width), dtype=torch.long, device=device)
    for i, e in enumerate(embeds):
        mask[i, width - int(e.shape[1]):] = 1
    position = (mask.cumsum(-1) - 1).clamp(min=0)
    generated: list[list[int]] = [[] for _ in range(rows)]
    cache, nxt = _prefill_rows(model, embeds, width, pick if any(r is not None for r in rules) else None)
    last = position[:, -1]
    live = list(range(rows))  # original row of each row still in the batch
    forwards = 1
    while True:
        keep: list[int] = []
        for j, row in enumerate(live):
            token = int(nxt[j])
            if token in stop:
                continue
            generated[row].append(token)
            if len(generated[row]) < max_new_tokens:
                keep.append(j)
        if not keep:
            break
        if len(keep) < len(live):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            nxt, mask, last = nxt[index], mask[index], last[index]
            live = [live[j] for j in keep]
        mask = torch.cat([mask, torch.ones((len(live), 1), dtype=mask.dtype, device=device)], dim=1)
        last = last + 1
        out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=last[:, None], use_cache=True,
                    **{cache_arg: cache})
        cache = _out_cache(out)
        if any(rules[row] is not None for row in live):
            nxt = torch.tensor([pick(row, out.logits[j, -1]) for j, row in enumerate(live)], device=device)
        else:
            nxt = out.logits[:, -1].argmax(-1)
        forwards += 1
    if stats is not None:
        _count(stats, batches=1, batch_rows=rows, batch_forwards=forwards,
               batch_tokens=sum(len(g) for g in generated), batch_us=int((time.perf_counter() - t0) * 1e6))
    texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
    return [str(t).split("\n", 1)[0].strip() for t in texts]
