"""Measure our fashion image encoder: zero-shot accuracy, retrieval, throughput, a real photo.

Everything is measured on the Fashion-MNIST TEST split (never trained on, never used for validation):

1. category accuracy (the category head when shipped, and zero-shot: nearest text prompt) on all 10,000
   test images tinted random colours;
2. colour accuracy on the same images;
3. image->image precision@10 (same category AND colour) in a catalog-like pool: 300 test images per
   class tinted with catalog-weighted colours, saved as 224-px PNGs and loaded back through
   ``load_image`` + preprocessing, exactly as the app sees them;
4. text->image precision@10 for 30 everyday-language queries against that pool;
5. encoding throughput and the time to load and encode the 3,000 pool PNGs;
6. what ``classify`` says about a real photo (``skimage.data.astronaut()``).

Run: ``./.venv/bin/python benchmarks/bench_image_encoder.py [--threads 1] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from agent.catalog.build import COLOR_WEIGHTS
from agent.catalog.fmnist import load_split
from agent.catalog.tint import tint_array, tint_image
from agent.catalog.vocab import CATEGORIES, COLORS
from agent.vision import ImageEncoder, load_image

ANY = tuple(COLORS)

#: (query, acceptable categories, acceptable colours). Written as shoppers talk, mostly without class names.
QUERIES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("something warm to wear over a shirt in winter", ("coat", "pullover"), ANY),
    ("comfy shoes for running", ("sneakers",), ANY),
    ("a little red number for a party", ("dress",), ("red",)),
    ("somewhere to keep my phone, wallet and keys", ("bag",), ANY),
    ("a cosy knit to curl up in on a cold evening", ("pullover",), ANY),
    ("smart legwear for the office", ("trousers",), ANY),
    ("what do I put on my feet at the beach", ("sandals",), ANY),
    ("footwear for muddy autumn walks", ("ankle_boots", "sneakers"), ANY),
    ("a crisp collared top for a job interview", ("shirt",), ANY),
    ("something light and short-sleeved for a hot day", ("top", "shirt", "dress"), ANY),
    ("a navy jacket for the office", ("coat",), ("navy",)),
    ("black heels for a night out", ("sandals", "ankle_boots"), ("black",)),
    ("a white button-up for work", ("shirt",), ("white",)),
    ("blue jeans", ("trousers",), ("blue", "navy")),
    ("a pink blouse for a garden party", ("top", "shirt"), ("pink",)),
    ("a roomy tote for shopping", ("bag",), ANY),
    ("a grey hoodie for lounging at home", ("pullover",), ("grey",)),
    ("something elegant to wear to a wedding", ("dress",), ANY),
    ("keeps the rain off on a wet day", ("coat",), ANY),
    ("white trainers for the gym", ("sneakers",), ("white",)),
    ("a brown leather satchel", ("bag",), ("brown",)),
    ("a beige trench for spring", ("coat",), ("beige",)),
    ("a flowing green frock for a picnic", ("dress",), ("green",)),
    ("kicks for skating around town", ("sneakers",), ANY),
    ("slip-on summer footwear with straps", ("sandals",), ANY),
    ("chelsea boots in black", ("ankle_boots",), ("black",)),
    ("chinos for a casual friday", ("trousers",), ANY),
    ("an orange puffer for the ski slopes", ("coat",), ("orange",)),
    ("a yellow jumper to brighten up winter", ("pullover",), ("yellow",)),
    ("a purple evening bag", ("bag",), ("purple",)),
]


def make_pool(
    images: np.ndarray, labels: np.ndarray, folder: Path, per_class: int, seed: int
) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Write a catalog-like pool of 224-px PNGs; return paths, category labels and colour labels."""
    rng = np.random.default_rng(seed)
    names = list(COLOR_WEIGHTS)
    p = np.asarray([COLOR_WEIGHTS[n] for n in names], dtype=np.float64)
    paths, cats, cols = [], [], []
    for label in range(len(CATEGORIES)):
        for idx in rng.permutation(np.flatnonzero(labels == label))[:per_class]:
            color = names[int(rng.choice(len(names), p=p / p.sum()))]
            path = folder / f"{label}_{idx}.png"
            tint_image(images[idx], COLORS[color], size=224).save(path)
            paths.append(path)
            cats.append(label)
            cols.append(list(COLORS).index(color))
    return paths, np.asarray(cats), np.asarray(cols)


def catalog_retrieval(enc: ImageEncoder, images: np.ndarray, labels: np.ndarray, args: argparse.Namespace) -> dict:
    """Precision@10 of photo search over the built default catalog (``data/catalog``), as the app does it.

    Queries: 100 unseen test-split garments per class, tinted a catalog colour and saved as 224-px
    PNGs. Each is classified; as in the planners, a confident category prediction becomes the search's
    category filter (the catalog's own category metadata), and items are ranked by image similarity
    among in-stock items. A hit has the query's true category and colour. Also reported: the same
    search without the filter (embedding alone), and the ceiling (queries whose (category, colour)
    has fewer than 10 in-stock items cannot reach 1.0).
    """
    from agent.catalog.models import SearchFilters
    from agent.context import Context
    from agent.planners.rules import RulesPlanner
    from agent.services import open_catalog

    catalog = open_catalog(Context.from_env())
    t0 = time.perf_counter()
    catalog.ensure_image_index()
    ready = time.perf_counter() - t0
    print(f"[3b] catalog {catalog.dir}: {len(catalog.items)} items; image index ready in {ready:.1f}s")
    threshold = RulesPlanner().min_image_confidence
    rng = np.random.default_rng(args.seed + 1)
    names = list(COLOR_WEIGHTS)
    weights = np.asarray([COLOR_WEIGHTS[n] for n in names], dtype=np.float64)
    in_stock: dict[tuple[str, str], int] = {}
    for it in catalog.items.values():
        if it.in_stock:
            in_stock[(it.category, it.color)] = in_stock.get((it.category, it.color), 0) + 1
    filtered, plain, ceiling, confident = [], [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, category in enumerate(CATEGORIES):
            for idx in rng.permutation(np.flatnonzero(labels == label))[: args.catalog_queries]:
                color = names[int(rng.choice(len(names), p=weights / weights.sum()))]
                path = Path(tmp) / f"q{idx}.png"
                tint_image(images[idx], COLORS[color], size=224).save(path)
                photo = load_image(path)
                vec = enc.encode([photo])[0]
                seen = enc.classify(photo)
                cats = [seen.category] if seen.category_confidence >= threshold else None
                confident += cats is not None
                hit = [it.item for it in catalog.search(None, SearchFilters(categories=cats), 10, vec, space="image")]
                raw = [it.item for it in catalog.search(None, SearchFilters(), 10, vec, space="image")]
                filtered.append(np.mean([i.category == category and i.color == color for i in hit]))
                plain.append(np.mean([i.category == category and i.color == color for i in raw]))
                ceiling.append(min(10, in_stock.get((category, color), 0)) / 10)
    out = {
        "catalog_p_at_10": float(np.mean(filtered)),
        "catalog_p_at_10_embedding_only": float(np.mean(plain)),
        "catalog_p_at_10_ceiling": float(np.mean(ceiling)),
        "catalog_queries": len(filtered),
        "catalog_confident_share": confident / len(filtered),
    }
    print(
        f"[3b] image->image precision@10 over the default catalog ({len(filtered)} unseen photos, in-stock items): "
        f"{out['catalog_p_at_10']:.4f} with the predicted-category filter the planners add "
        f"(confident on {out['catalog_confident_share']:.3f}); "
        f"embedding alone {out['catalog_p_at_10_embedding_only']:.4f}; ceiling {out['catalog_p_at_10_ceiling']:.4f}"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=None, help="weights folder (default: the committed ones)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--catalog", action="store_true",
                        help="also measure photo search over the built default catalog (data/catalog)")
    parser.add_argument("--catalog-queries", type=int, default=100, help="query photos per class for --catalog")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    results: dict[str, object] = {"threads": args.threads, "cpu": os.cpu_count()}
    enc = ImageEncoder.load(args.weights)
    images, labels = load_split("test")
    rng = np.random.default_rng(args.seed)

    # 1-2. zero-shot category and colour accuracy on the whole test split
    colors = rng.integers(0, len(COLORS), len(labels))
    palette = list(COLORS.values())
    tinted = [Image.fromarray(tint_array(images[i], palette[colors[i]])) for i in range(len(labels))]
    t0 = time.perf_counter()
    understood = enc.classify_many(tinted)
    dt = time.perf_counter() - t0
    pred_cat = np.asarray([CATEGORIES.index(u.category) for u in understood])
    pred_col = np.asarray([list(COLORS).index(u.color) for u in understood])
    cat_acc = float(np.mean(pred_cat == labels))
    col_acc = float(np.mean(pred_col == colors))
    per_class = {c: round(float(np.mean(pred_cat[labels == i] == i)), 4) for i, c in enumerate(CATEGORIES)}
    per_color = {c: round(float(np.mean(pred_col[colors == i] == i)), 4) for i, c in enumerate(COLORS)}
    confident = np.asarray([u.is_confident for u in understood])
    zero_shot = np.argmax(enc.encode(tinted) @ enc.category_prototypes.T, axis=1)
    zero_shot_acc = float(np.mean(zero_shot == labels))
    named_by = "category head" if enc.classifier_config is not None else "zero-shot, nearest text prompt"
    print(f"[1] category accuracy ({named_by}), 10,000 tinted test images: {cat_acc:.4f}")
    print(f"    zero-shot (nearest text prompt) on the same images: {zero_shot_acc:.4f}")
    print(f"    per class: {per_class}")
    print(
        f"    confident on {confident.mean():.3f} of images; accuracy when confident "
        f"{np.mean(pred_cat[confident] == labels[confident]):.4f}, when not "
        f"{np.mean(pred_cat[~confident] == labels[~confident]) if (~confident).any() else float('nan'):.4f}"
    )
    print(f"[2] colour accuracy: {col_acc:.4f}")
    print(f"    per colour: {per_color}")
    print(f"    (classify_many on 10,000 28-px images took {dt:.1f}s)")
    results.update(
        category_accuracy=cat_acc,
        category_named_by=named_by,
        zero_shot_category_accuracy=zero_shot_acc,
        color_accuracy=col_acc,
        per_class=per_class,
        per_color=per_color,
        confident_fraction=float(confident.mean()),
    )
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (labels, pred_cat), 1)
    results["confusion"] = confusion.tolist()

    # 3. image->image retrieval in a catalog-like pool of 224-px PNGs
    with tempfile.TemporaryDirectory() as tmp:
        paths, pool_cat, pool_col = make_pool(images, labels, Path(tmp), args.per_class, args.seed)
        t0 = time.perf_counter()
        pool_imgs = [load_image(p) for p in paths]
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        prepared = enc.prepare(pool_imgs)
        t_prep = time.perf_counter() - t0
        t0 = time.perf_counter()
        vecs = enc.encode_prepared(prepared)
        t_net = time.perf_counter() - t0
    n = len(paths)
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, :10]
    same = (pool_cat[top] == pool_cat[:, None]) & (pool_col[top] == pool_col[:, None])
    p_at_10 = float(same.mean())
    p_cat_only = float((pool_cat[top] == pool_cat[:, None]).mean())
    pool_u = enc.classify_many(pool_imgs[:1000])
    pool_cat_acc = float(
        np.mean([CATEGORIES.index(u.category) == c for u, c in zip(pool_u, pool_cat[:1000], strict=True)])
    )
    print(
        f"[3] image->image precision@10 (same category AND colour), pool of {n} 224-px PNGs: {p_at_10:.4f}"
        f"  (same category only: {p_cat_only:.4f})"
    )
    results.update(image_retrieval_p_at_10=p_at_10, image_retrieval_category_p_at_10=p_cat_only)

    # 4. text->image retrieval with everyday queries
    text_vecs = enc.encode_text([q for q, _, _ in QUERIES])
    scores = text_vecs @ vecs.T
    per_query = []
    for (query, cats, cols), row in zip(QUERIES, scores, strict=True):
        best = np.argsort(-row)[:10]
        ok = [CATEGORIES[pool_cat[i]] in cats and list(COLORS)[pool_col[i]] in cols for i in best]
        per_query.append(
            {
                "query": query,
                "categories": list(cats),
                "colors": "any" if cols == ANY else list(cols),
                "precision_at_10": float(np.mean(ok)),
                "top3": [f"{list(COLORS)[pool_col[i]]} {CATEGORIES[pool_cat[i]]}" for i in best[:3]],
            }
        )
    mean_p = float(np.mean([q["precision_at_10"] for q in per_query]))
    print(f"[4] text->image precision@10 over {len(QUERIES)} everyday queries: {mean_p:.4f}")
    for q in per_query:
        print(f"    {q['precision_at_10']:.1f}  {q['query']!r} -> {', '.join(q['top3'])}")
    results.update(text_retrieval_p_at_10=mean_p, text_queries=per_query)

    # 5. throughput
    batch = np.stack([p.array for p in prepared])
    enc.encode_prepared(prepared[:256])
    t0 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        enc.encode_prepared(prepared)
    net_ips = reps * n / (time.perf_counter() - t0)
    total = t_load + t_prep + t_net
    print(f"[5] network only: {net_ips:,.0f} images/s ({args.threads} thread(s), batch 512, input {batch.shape[1]} px)")
    print(
        f"    {n:,} catalog PNGs (224 px): load {t_load:.2f}s + preprocess {t_prep:.2f}s + "
        f"encode {t_net:.2f}s "
        f"= {total:.2f}s ({n / total:,.0f} images/s end to end)"
    )
    print(f"    (category accuracy on the first 1,000 pool PNGs via the 224-px path: {pool_cat_acc:.4f})")
    results.update(
        network_images_per_s=net_ips,
        pool_load_s=t_load,
        pool_prepare_s=t_prep,
        pool_encode_s=t_net,
        pool_total_s=total,
        pool_category_accuracy_224px=pool_cat_acc,
    )

    # 3b. image->image over the default catalog, the way the assistant searches it
    if args.catalog:
        results.update(catalog_retrieval(enc, images, labels, args))

    # 6. a real photo
    try:
        from skimage import data as skdata
    except ImportError:
        print("[6] skipped: scikit-image is not installed")
    else:
        photo = enc.classify(Image.fromarray(skdata.astronaut()))
        print(f"[6] astronaut photo: {photo.model_dump()}")
        results["astronaut"] = photo.model_dump()

    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
