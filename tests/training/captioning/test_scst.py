"""Self-critical training of the captioner's decoder: sampling stops at EOS and never draws banned words, each
sample's advantage is its reward over the mean of its photo's other samples, and a few steps on one photo raise
its captions' CIDEr-D."""

from __future__ import annotations

import torch

from training.caption_metrics import CiderD
from training.captioning.scst import advantages, reward_scorer, sample, scst_loss

SP = {"pad": 0, "bos": 1, "eos": 2, "unk": 3}


def test_samples_stop_at_eos_and_avoid_banned_words(tiny_captioner):
    encoder, decoder = tiny_captioner()
    with torch.no_grad():
        regions = encoder(torch.randn(6, 3, 32, 32))
        captions, log_probs, mask = sample(decoder, regions, SP, torch.Generator().manual_seed(0), max_words=12)
    assert len(captions) == 6 and log_probs.shape == mask.shape and mask.shape[0] == 6
    for caption, row_mask, row_lp in zip(captions, mask, log_probs, strict=True):
        assert not {0, 1, 2, 3} & set(caption)
        drawn = int(row_mask.sum())  # the words drawn, EOS included when it came before the limit
        assert drawn == min(len(caption) + 1, 12) and (row_lp[:drawn] < 0).all() and (row_lp[drawn:] == 0).all()


def test_sampling_is_reproducible_from_the_generator(tiny_captioner):
    encoder, decoder = tiny_captioner()
    with torch.no_grad():
        regions = encoder(torch.randn(4, 3, 32, 32))
        first = sample(decoder, regions, SP, torch.Generator().manual_seed(5))[0]
        again = sample(decoder, regions, SP, torch.Generator().manual_seed(5))[0]
    assert first == again


def test_advantage_is_reward_minus_mean_of_the_others():
    rewards = torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, 6.0])
    assert advantages(rewards, 3).tolist() == [1 - 2.5, 2 - 2.0, 3 - 1.5, 0 - 3.0, 0 - 3.0, 6 - 0.0]


def test_a_few_steps_raise_the_reward_of_one_photo(tiny_captioner):
    torch.manual_seed(0)
    encoder, decoder = tiny_captioner()
    with torch.no_grad():
        regions = encoder(torch.randn(1, 3, 32, 32)).repeat(8, 1, 1)
    references = [[[4, 5, 6, 7], [4, 5, 6, 8], [4, 5, 9, 7]]] + [[[20 + i, 21 + i, 22 + i]] for i in range(9)]
    cider, gen = reward_scorer(references, SP["eos"]), torch.Generator().manual_seed(1)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=3e-2)
    decoder.train()
    rewards = []
    for _ in range(60):
        loss, metrics = scst_loss(decoder, regions, [0] * 8, cider, 4, SP, gen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rewards.append(metrics["reward"])
    assert sum(rewards[-10:]) / 10 > sum(rewards[:10]) / 10 + 1.0


def test_the_end_token_makes_a_caption_cut_mid_phrase_cost_more():
    references = [[[4, 5, 6, 7, 8, 9], [4, 5, 6, 7, 8, 10]], [[11, 12, 13]], [[14, 15, 16]]]
    whole, cut = [4, 5, 6, 7, 8, 9], [4, 5, 6, 7, 8]  # "a dog runs on the grass" / "a dog runs on the"
    plain, ended = CiderD(references), reward_scorer(references, SP["eos"])
    plain_loss = plain.score(0, whole) - plain.score(0, cut)
    ended_loss = ended.score(0, [*whole, SP["eos"]]) - ended.score(0, [*cut, SP["eos"]])
    assert ended_loss > plain_loss > 0
