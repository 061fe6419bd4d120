"""Stage 4 (optional) of the captioner: self-critical sequence training of the decoder for CIDEr-D (Rennie et al.
2017).

Cross-entropy teaches the decoder the next word of a human caption, yet it is judged on captions it writes
itself, word after word. Here it samples K captions per photo; each is scored by CIDEr-D against the photo's
five training captions (document frequencies of the training split), and its log-probability is raised or
lowered by how much it beat the mean of the other K-1 samples of the same photo (Luo 2020's baseline, which
needs no extra greedy decode). The CNN stays frozen: its features for several views of every training photo
are computed once, as in stage 2.

Captions and references are scored with their end token: without it, a caption cut short after "on the" keeps
the n-grams it has and loses little, and the policy learns to stop mid-phrase.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from training.caption_metrics import CiderD
from training.captioning.data import CaptionData
from training.captioning.stages import MAX_WORDS, dev_scores, feature_views
from training.models.captioner import CaptionDecoder, Captioner, CaptionerConfig
from training.optim import adamw_one_cycle, steps_per_epoch
from training.tasks.common import epoch_generator
from training.trainer import History, Trainer, TrainerConfig


def sample(decoder: CaptionDecoder, regions: torch.Tensor, sp: dict[str, int], generator: torch.Generator,
           max_words: int = MAX_WORDS) -> tuple[list[list[int]], torch.Tensor, torch.Tensor]:  # fmt: skip
    """One caption sampled per row of `regions`: word ids (up to EOS, which is not included), the log-probability
    of every word drawn (EOS included; 0 after it), and the mask of the words drawn. Padding, BOS and the unknown
    word are never drawn, as in the exported step graph."""
    banned = torch.zeros(decoder.c.vocab)
    banned[[sp["pad"], sp["bos"], sp["unk"]]] = -1e9
    keys, state = decoder.start(regions)
    tokens = torch.full((len(regions),), sp["bos"], dtype=torch.long)
    alive = torch.ones(len(regions), dtype=torch.bool)
    log_probs, masks, drawn = [], [], []
    for _ in range(max_words):
        h, state, _ = decoder.step(tokens, state, regions, keys)
        logp = F.log_softmax(decoder.out(decoder.drop(h)) + banned, -1)
        tokens = torch.multinomial(logp.detach().exp(), 1, generator=generator).squeeze(1)
        log_probs.append(logp.gather(1, tokens.unsqueeze(1)).squeeze(1) * alive)
        masks.append(alive)
        drawn.append(tokens)
        alive = alive & (tokens != sp["eos"])
        if not alive.any():
            break
    words = torch.stack(drawn, 1).tolist()
    captions = [row[: row.index(sp["eos"])] if sp["eos"] in row else row for row in words]
    return captions, torch.stack(log_probs, 1), torch.stack(masks, 1).float()


def advantages(rewards: torch.Tensor, k: int) -> torch.Tensor:
    """(B*K,) rewards, K consecutive samples per photo -> each reward minus the mean of its photo's other K-1."""
    r = rewards.view(-1, k)
    return (r - (r.sum(1, keepdim=True) - r) / (k - 1)).view(-1)


def reward_scorer(references: list[list[list[int]]], eos: int) -> CiderD:
    """CIDEr-D over the references with the end token appended, so that how a caption ends is scored too."""
    return CiderD([[[*r, eos] for r in refs] for refs in references])


def scst_loss(decoder: CaptionDecoder, regions: torch.Tensor, images: list[int], cider: CiderD, k: int,
              sp: dict[str, int], generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    """The policy-gradient loss of K samples for each photo (rows of `regions`, reference images `images`)."""
    captions, log_probs, mask = sample(decoder, regions.repeat_interleave(k, 0), sp, generator)
    owners = [i for i in images for _ in range(k)]
    rewards = torch.tensor([cider.score(i, [*c, sp["eos"]]) for i, c in zip(owners, captions, strict=True)])
    adv = advantages(rewards, k)
    loss = -(adv.unsqueeze(1) * log_probs * mask).sum() / mask.sum()
    return loss, {"reward": rewards.mean().item(), "words": mask.sum(1).mean().item()}


def train_scst(args: argparse.Namespace, data: CaptionData, config: CaptionerConfig, stats: dict,
               tcfg: TrainerConfig, model: Captioner) -> History:  # fmt: skip
    """Stage 4: the decoder of `model` (stage 3's, or stage 2's) on cached features of its frozen CNN."""
    model.eval()
    t0 = time.perf_counter()
    train_feats, dev_feats = feature_views(args.views, args.seed + 3, data, model.encoder, config, stats)
    print(f"features for {args.views} views in {time.perf_counter() - t0:.1f}s: {tuple(train_feats.shape)}")
    decoder, sp, k = model.decoder.train(), data.special, args.scst_samples
    cider = reward_scorer(data.train_ids, sp["eos"])
    n, bs = len(data.train_ids), args.scst_batch_size
    steps = tcfg.epochs * steps_per_epoch(n, bs)
    optimizer, scheduler = adamw_one_cycle([(decoder.parameters(), args.scst_lr)], 0.0, steps, warmup=0.05)

    def epoch_batches(epoch: int):
        gen = epoch_generator(args.seed + 3, epoch)
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            view = torch.randint(0, len(train_feats), (len(idx),), generator=gen)
            yield train_feats[view, idx].float(), idx.tolist(), gen

    def loss_fn(m: CaptionDecoder, batch):
        regions, images, gen = batch
        return scst_loss(m, regions, images, cider, k, sp, gen)

    def evaluate(m: CaptionDecoder) -> dict[str, float]:
        return dev_scores(m, dev_feats, data)

    history = Trainer(decoder, optimizer, tcfg, config, scheduler).fit(epoch_batches, loss_fn, evaluate)
    print(f"self-critical training done: {history.steps} steps in {history.train_seconds:.1f}s")
    return history


def load_stages(run: Path, config: CaptionerConfig) -> Captioner:
    """The captioner of a run's stages 1-3: stage 3's weights where it ran (it supersedes both), else 1 and 2."""
    model = Captioner(config)
    if (run / "finetune" / "checkpoint.pt").exists():
        model.load_state_dict(torch.load(run / "finetune" / "checkpoint.pt", weights_only=False)["state_dict"])
    else:
        model.encoder.load_state_dict(torch.load(run / "encoder" / "checkpoint.pt", weights_only=False)["state_dict"])
        model.decoder.load_state_dict(torch.load(run / "decoder" / "checkpoint.pt", weights_only=False)["state_dict"])
    return model
