"""Caption scoring: coco-caption BLEU/CIDEr wrapper, the exact fast constant-caption search, and CIDEr-D with
fixed document frequencies (the self-critical reward)."""

from __future__ import annotations

import random

import pytest
from pycocoevalcap.cider.cider import Cider

from training.caption_metrics import CiderD, ConstantCaptionSearch, coco_scores

WORDS = [
    "a",
    "dog",
    "man",
    "woman",
    "runs",
    "sits",
    "on",
    "the",
    "grass",
    "beach",
    "red",
    "blue",
    "ball",
    "in",
    "water",
    "street",
]


def random_refs(rng: random.Random, images: int) -> list[list[list[str]]]:
    return [[[rng.choice(WORDS) for _ in range(rng.randint(4, 12))] for _ in range(5)] for _ in range(images)]


def test_identical_caption_scores_100():
    refs = [["a dog runs on the grass", "a brown dog runs"], ["a man sits on a bench", "a man is sitting"]]
    scores = coco_scores(["a dog runs on the grass", "a man sits on a bench"], refs)
    assert scores["bleu1"] == pytest.approx(100) and scores["bleu4"] == pytest.approx(100)


def test_unrelated_caption_scores_low():
    refs = [["a dog runs on the grass"] * 5, ["a man sits on a bench"] * 5]
    assert coco_scores(["purple elephants fly", "purple elephants fly"], refs)["bleu1"] < 1


@pytest.mark.parametrize("seed", range(5))
def test_fast_constant_bleu4_equals_pycocoevalcap(seed):
    rng = random.Random(seed)
    refs = random_refs(rng, 40)
    search = ConstantCaptionSearch(refs)
    for candidate in [refs[0][0], refs[3][2], ["a", "dog", "on", "the", "grass"], refs[7][1]]:
        expected = coco_scores([" ".join(candidate)] * len(refs), [[" ".join(r) for r in rs] for rs in refs])["bleu4"]
        assert round(100 * search.bleu4(candidate), 2) == pytest.approx(expected, abs=0.011)


def test_best_constant_caption_beats_every_other_candidate():
    rng = random.Random(7)
    refs = random_refs(rng, 30)
    candidates = [r for rs in refs for r in rs]
    search = ConstantCaptionSearch(refs)
    best, score = search.best(candidates)
    assert score == max(search.bleu4(c) for c in candidates) and best in candidates


@pytest.mark.parametrize("seed", range(3))
def test_cider_d_equals_pycocoevalcap_per_image(seed):
    rng = random.Random(seed)
    refs = random_refs(rng, 30)
    hyps = [rng.choice(refs[i])[:-1] if i % 3 else [rng.choice(WORDS) for _ in range(6)] for i in range(len(refs))]
    gts = {i: [" ".join(r) for r in rs] for i, rs in enumerate(refs)}
    _, expected = Cider().compute_score(gts, {i: [" ".join(h)] for i, h in enumerate(hyps)})
    cider = CiderD(refs)
    assert [cider.score(i, h) for i, h in enumerate(hyps)] == pytest.approx(list(expected), abs=1e-9)


def test_cider_d_takes_token_ids_and_rewards_the_closer_caption():
    refs = [[[5, 6, 7, 8, 9], [5, 6, 7, 10]], [[11, 12, 13, 14], [11, 15, 13, 14]]]
    cider = CiderD(refs)
    assert cider.score(0, [5, 6, 7, 8, 9]) > cider.score(0, [5, 6, 7]) > cider.score(0, [11, 12, 13, 14]) == 0.0
    assert cider.score(1, []) == 0.0
