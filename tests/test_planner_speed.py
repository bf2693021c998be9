"""Planner speed and scale: prefix KV reuse, batched decoding across threads, the same plans either way.

These run the shipped adapter on the real SmolLM2 base (built from the packaged GGUF when missing)
over held-out planning prompts drawn from the catalog.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from agent.plan import PlannerInput  # noqa: E402
from agent.planners.compact import plan_key  # noqa: E402
from agent.planners.smol import SmolPlanner  # noqa: E402


@pytest.fixture(scope="module")
def shipped() -> SmolPlanner:
    planner = SmolPlanner()
    planner.setup()
    return planner


@pytest.fixture(scope="module")
def views(catalog: Any) -> list[PlannerInput]:
    """Twenty held-out planning prompts (test-split families, no photos) over the test catalog."""
    from training.planner.data import build_samples

    samples, _ = build_samples(list(catalog.items.values()), n=400, seed=0)
    picked = [s.view for s in samples if s.split == "test" and not s.view.new_images and s.view.step == 0]
    assert len(picked) >= 20
    return picked[:20]


def _fresh(planner: SmolPlanner) -> None:
    from agent.planners.smol.model import PrefixCache

    planner.prefix_cache = PrefixCache()


def test_batched_decode_gives_each_prompt_its_own_greedy_plan_in_fewer_passes(shipped: SmolPlanner,
                                                                               views: list[PlannerInput]) -> None:
    from agent.planners.smol.model import generate, generate_batch

    encoded = [shipped._encode(v) for v in views]
    alone_stats: dict[str, int] = {}
    alone = [generate(shipped.model, shipped.tokenizer, e, max_new_tokens=shipped.max_new_tokens, stats=alone_stats,
                      drafter=shipped.drafter, prompt_ids=ids)[0] for ids, e, _ in encoded]
    stats: dict[str, int] = {}
    together = generate_batch(shipped.model, shipped.tokenizer, [e for _, e, _ in encoded],
                              max_new_tokens=shipped.max_new_tokens, stats=stats)
    assert together == alone
    assert all(alone) and len(set(alone)) > 10  # real, varied plans
    # a batch of two and one of seven (other padding) give the same plans too
    assert generate_batch(shipped.model, shipped.tokenizer, [e for _, e, _ in encoded[:2]]) == alone[:2]
    assert generate_batch(shipped.model, shipped.tokenizer, [e for _, e, _ in encoded[5:12]]) == alone[5:12]
    # one pass per token for all rows: as many passes as the longest plan has tokens (+ the prefill)
    assert stats["batch_rows"] == 20 and stats["batch_forwards"] <= shipped.max_new_tokens + 1
    assert stats["batch_forwards"] * 5 < alone_stats["tokens"]


def test_prefix_cache_reuses_a_shared_prompt_start_and_keeps_the_plan(shipped: SmolPlanner,
                                                                       views: list[PlannerInput]) -> None:
    _fresh(shipped)
    first = [shipped._decode_one((ids, n, None), e) for ids, e, n in (shipped._encode(v) for v in views[:6])]
    counts = dict(shipped.prefix_cache.counts)
    assert counts["hits"] >= 5  # every prompt after the first shares at least the chat header
    again = [shipped._decode_one((ids, n, None), e) for ids, e, n in (shipped._encode(v) for v in views[:6])]
    assert again == first
    reused = shipped.prefix_cache.counts["reused_tokens"] - counts["reused_tokens"]
    prompt = shipped.prefix_cache.counts["prompt_tokens"] - counts["prompt_tokens"]
    assert reused == prompt - 6  # the same prompts again: all but each one's last token come from the cache
    before = shipped.decode_stats.get("prefill_tokens", 0)
    ids, e, n = shipped._encode(views[0])
    shipped._decode_one((ids, n, None), e)
    assert shipped.decode_stats["prefill_tokens"] - before == 1


def test_steps_planned_from_several_threads_are_batched_and_plan_as_alone(shipped: SmolPlanner,
                                                                          views: list[PlannerInput]) -> None:
    picked = views[:8]
    alone = [plan_key(shipped.plan(v.model_copy(deep=True))) for v in picked]
    shipped.enable_batching(max_batch=8, gather_s=0.2)
    try:
        assert shipped.concurrent
        results: dict[int, Any] = {}
        start = threading.Barrier(len(picked))

        def run(i: int) -> None:
            start.wait()
            results[i] = plan_key(shipped.plan(picked[i].model_copy(deep=True)))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(picked))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counts = shipped.batcher.counts
    finally:
        shipped.enable_batching(max_batch=1)
    assert [results[i] for i in range(len(picked))] == alone
    assert counts["requests"] == 8 and counts["batches"] >= 1 and counts["batched"] >= 4
    assert not shipped.concurrent


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from agent.planners.smol.export import export_planner

    return export_planner(tmp_path_factory.mktemp("export") / "planner", merged=True)


def test_export_writes_a_vllm_ready_base_adapter_and_merged_model(exported: Any, shipped: SmolPlanner) -> None:
    import json
    from pathlib import Path

    from safetensors.torch import load_file

    parts = {k: Path(v) for k, v in exported["parts"].items()}
    assert set(parts) == {"base", "adapter", "merged"}
    cfg = json.loads((parts["adapter"] / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == "../base" and cfg["peft_type"] == "LORA"
    assert (parts["base"] / "tokenizer.json").is_file() and (parts["merged"] / "config.json").is_file()
    merged = load_file(str(parts["merged"] / "model.safetensors"))
    base = load_file(str(parts["base"] / "model.safetensors"))
    name = "model.layers.0.self_attn.q_proj.weight"
    assert merged[name].dtype == torch.float16 and base[name].dtype == torch.float16
    ours = dict(shipped.model.named_parameters())[name].detach()
    assert torch.allclose(merged[name].float(), ours, rtol=1e-3, atol=1e-4)  # the planner's merged weights, in float16
    assert not torch.allclose(base[name].float(), ours, atol=1e-4)  # the base alone is not
    assert exported["vllm"] == (f"vllm serve {parts['base']} --enable-lora --lora-modules fashion={parts['adapter']}"
                                " --max-lora-rank 16")


def test_completions_mode_gives_the_local_plans_on_twenty_test_prompts(exported: Any, shipped: SmolPlanner,
                                                                       views: list[PlannerInput]) -> None:
    from pathlib import Path

    from agent.planners.smol.base import default_base_path
    from tests.completions_server import CompletionsServer

    # no beams and no plan grammar on either side: the server decodes freely and has no beam re-decode
    local = SmolPlanner(beams=1, constrained=False)
    local.model, local.tokenizer, local.config = shipped.model, shipped.tokenizer, shipped.config
    local.drafter, local.prefix_cache, local.device = shipped.drafter, shipped.prefix_cache, shipped.device
    with CompletionsServer(default_base_path(), Path(exported["parts"]["adapter"])) as server:
        remote = SmolPlanner(remote=True, url=server.url)
        pairs = []
        for view in views:
            here = local.plan(view.model_copy(deep=True))
            here_text = local.last_text
            there = remote.plan(view.model_copy(deep=True))
            pairs.append(((plan_key(here), here_text), (plan_key(there), remote.last_text)))
        sent = list(server.requests)
    assert [a for a, _ in pairs] == [b for _, b in pairs]
    assert remote.stats["calls"] == 20 and remote.model is remote.client and remote.client.counts["requests"] == 20
    assert len(sent) == 20 and all(r["model"] == "fashion" and isinstance(r["prompt"], list) for r in sent)
    assert sent[0]["prompt"] == local.prompt_ids(views[0])  # the very ids the local model reads
    assert remote.projector is None  # only the tokenizer was loaded


def test_completions_mode_with_the_server_down_says_so_and_the_rules_plan(views: list[PlannerInput],
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    remote = SmolPlanner(remote=True, url="http://127.0.0.1:9/v1")
    remote.setup()
    remote.client.retries = 0
    plan = remote.plan(views[0].model_copy(deep=True))
    assert plan.planner == "rules" and remote.decode_stats["remote_errors"] == 1
    assert "cannot reach the planner completions server at http://127.0.0.1:9/v1" in caplog.text


def test_the_service_shares_a_batching_smol_planner_and_serialises_the_others() -> None:
    from agent.context import Context
    from agent.planners.rules import RulesPlanner
    from agent.serve.runner import SerialPlanner, service_planner

    settings = Context().with_(turn_workers=8)
    smol = SmolPlanner()
    assert service_planner(smol, settings) is smol and smol.concurrent and smol.batcher.max_batch == 8
    smol.enable_batching(max_batch=1)
    assert isinstance(service_planner(SmolPlanner(), settings.with_(planner_batch=1)), SerialPlanner)
    assert isinstance(service_planner(RulesPlanner(), settings), SerialPlanner)
    remote = SmolPlanner(remote=True)  # its server batches: the turn threads call it at once
    assert service_planner(remote, settings) is remote and remote.batcher is None


def test_a_query_embedding_leaves_the_process_torch_threads_as_they_were() -> None:
    """The embedder encodes a short query on one thread; the planner's decode must keep its own threads."""
    from agent.embeddings import get_text_embedder

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        get_text_embedder().encode(["a query nobody embedded before, issue 17"])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_batch_decoder_runs_model_work_on_its_own_thread_and_hands_errors_back() -> None:
    from agent.planners.smol.batching import BatchDecoder

    decoder = BatchDecoder(lambda prompt, embeds: f"alone {prompt}", lambda prompts, many: [f"batch {e}" for e in many])
    assert decoder.decode("p", 1) == "alone p"
    assert decoder.run(threading.get_ident) != threading.get_ident()
    with pytest.raises(ZeroDivisionError):
        decoder.run(lambda: 1 / 0)
    assert decoder.decode("q", 2) == "alone q"  # the worker survived the error
    decoder.close()
    with pytest.raises(RuntimeError, match="closed"):
        decoder.decode("r", 3)


def test_batch_decoder_waits_for_callers_still_building_their_prompt_but_not_for_nobody() -> None:
    from agent.planners.smol.batching import BatchDecoder

    decoder = BatchDecoder(lambda prompt, embeds: f"alone {prompt}",
                           lambda prompts, many: [f"batch {p}" for p in prompts], await_s=30.0)
    texts: dict[str, str] = {}
    inside = threading.Barrier(2)

    def step(name: str, delay: float) -> None:
        with decoder.planning():
            inside.wait()  # both callers are planning before either asks
            time.sleep(delay)  # building the prompt
            texts[name] = decoder.decode(name, 0)

    threads = [threading.Thread(target=step, args=("a", 0.0)), threading.Thread(target=step, args=("b", 0.3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    # the early caller was not decoded alone: it waited for the one still building its prompt
    assert texts == {"a": "batch a", "b": "batch b"}
    assert decoder.counts["batches"] == 1 and decoder.counts["singles"] == 0
    # one caller alone is decoded at once (a 30 s wait would time the join out)
    done: list[str] = []

    def alone() -> None:
        with decoder.planning():
            done.append(decoder.decode("c", 0))

    t = threading.Thread(target=alone)
    t.start()
    t.join(timeout=10)
    assert done == ["alone c"]
    decoder.close()
