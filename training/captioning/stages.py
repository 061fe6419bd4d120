"""What the captioner's training stages are made of: photo batches (augmented, or as at test time), cached region
features of several views, teacher-forced caption batches, the caption loss, and greedy BLEU on the dev split."""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.augment import center_crop, color_jitter, random_crop_flip
from training.caption_metrics import coco_scores
from training.captioning.data import CaptionData
from training.models.captioner import CaptionDecoder, Captioner, CaptionerConfig, ImageEncoder
from training.optim import adamw_one_cycle, steps_per_epoch
from training.trainer import History, Trainer, TrainerConfig

MAX_WORDS = 20  # training captions are cut to this many words (99% are shorter than 22)


def normalise(images: torch.Tensor, config: dict) -> torch.Tensor:
    mean = torch.tensor(config["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(config["std"], dtype=torch.float32).view(1, 3, 1, 1)
    return (images - mean) / std


def to_float(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)


def dev_photos(data: CaptionData, config: CaptionerConfig, stats: dict) -> torch.Tensor:
    """The dev photos as the model sees them at test time: centre crop, normalised."""
    return normalise(center_crop(to_float(data.dev_images), config.image_size), stats)


def augmented_photos(data: CaptionData, idx: torch.Tensor, config, stats: dict, gen: torch.Generator) -> torch.Tensor:
    """Training photos `idx` with a random crop (70-100%), flip and colour jitter, normalised."""
    x = random_crop_flip(to_float(data.train_images[idx.numpy()]), config.image_size, generator=gen)
    return normalise(color_jitter(x, generator=gen), stats)


def region_features(encoder: ImageEncoder, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([encoder(x[i : i + 250]) for i in range(0, len(x), 250)]).half()


def feature_views(views: int, seed: int, data: CaptionData, encoder: ImageEncoder, config: CaptionerConfig,
                  stats: dict):  # fmt: skip
    """(views, N, L, D) float16 train features: the centre crop, its mirror, then random crops; dev centre."""
    gen = torch.Generator().manual_seed(seed)
    train = to_float(data.train_images)
    out = []
    for v in range(views):
        if v == 0:
            x = center_crop(train, config.image_size)
        elif v == 1:
            x = center_crop(train, config.image_size).flip(3)
        else:
            x = random_crop_flip(train, config.image_size, generator=gen)
        out.append(region_features(encoder, normalise(x, stats)))
    dev = region_features(encoder, dev_photos(data, config, stats))
    return torch.stack(out), dev


def greedy(decoder: CaptionDecoder, regions: torch.Tensor, bos: int, eos: int, banned: list[int]) -> list[list[int]]:
    keys, state = decoder.start(regions)
    tokens = torch.full((len(regions),), bos, dtype=torch.long)
    out = torch.zeros(len(regions), MAX_WORDS, dtype=torch.long)
    for t in range(MAX_WORDS):
        h, state, _ = decoder.step(tokens, state, regions, keys)
        logits = decoder.out(h)
        logits[:, banned] = -1e9
        tokens = logits.argmax(1)
        out[:, t] = tokens
    seqs = []
    for row in out.tolist():
        seqs.append(row[: row.index(eos)] if eos in row else row)
    return seqs


def teacher_batch(captions: list[list[int]], sp: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Word ids -> decoder inputs [BOS] + ids and targets ids + [EOS], (B, T), padded with 0."""
    t = max(len(c) for c in captions) + 1
    inputs = torch.zeros(len(captions), t, dtype=torch.long)
    targets = torch.zeros(len(captions), t, dtype=torch.long)
    for r, ids in enumerate(captions):
        inputs[r, : len(ids) + 1] = torch.tensor([sp["bos"], *ids])
        targets[r, : len(ids) + 1] = torch.tensor([*ids, sp["eos"]])
    return inputs, targets


def caption_loss(decoder: CaptionDecoder, regions, inputs, targets, pad: int, penalty_weight: float):
    """Cross-entropy plus Xu et al.'s doubly stochastic penalty sum_i (1 - sum_t alpha_ti)^2 (soft attention)."""
    logits, alpha = decoder(regions, inputs)
    mask = (targets != pad).float()
    ce = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=pad)
    if decoder.c.attention != "soft":
        return ce, {"ce": ce.item()}
    penalty = ((1 - (alpha * mask.unsqueeze(2)).sum(1)) ** 2).mean()
    return ce + penalty_weight * penalty, {"ce": ce.item()}


def dev_scores(decoder: CaptionDecoder, dev_feats: torch.Tensor, data: CaptionData) -> dict[str, float]:
    sp = data.special
    hyps = []
    for i in range(0, len(dev_feats), 250):
        hyps += greedy(decoder, dev_feats[i : i + 250].float(), sp["bos"], sp["eos"], [sp["pad"], sp["bos"], sp["unk"]])
    texts = [" ".join(data.tokenizer.id_to_token(t) for t in h) for h in hyps]
    return {f"dev_greedy_{k}": v for k, v in coco_scores(texts, data.dev_references).items()}


def train_encoder(args: argparse.Namespace, data: CaptionData, config: CaptionerConfig, stats: dict,
                  tcfg: TrainerConfig) -> History:  # fmt: skip
    """Stage 1: the CNN learns which caption words occur in a photo (multi-label, soft targets)."""
    torch.manual_seed(args.seed)
    encoder = ImageEncoder(config)
    targets = torch.from_numpy(data.concept_targets(data.train))
    dev_targets = torch.from_numpy(data.concept_targets(data.dev))
    n, bs = len(data.train_images), args.batch_size
    steps = tcfg.epochs * steps_per_epoch(n, bs)
    optimizer, scheduler = adamw_one_cycle([(encoder.parameters(), args.lr)], 5e-4, steps, warmup=0.2)
    gen = torch.Generator().manual_seed(args.seed)
    dev_x = dev_photos(data, config, stats)

    def epoch_batches(epoch: int):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            yield augmented_photos(data, idx, config, stats, gen), targets[idx]

    def loss_fn(model: ImageEncoder, batch):
        x, y = batch
        return F.binary_cross_entropy_with_logits(model.concept_logits(model(x)), y), {}

    def evaluate(model: ImageEncoder) -> dict[str, float]:
        logits = torch.cat([model.concept_logits(model(dev_x[i : i + 200])) for i in range(0, len(dev_x), 200)])
        loss = F.binary_cross_entropy_with_logits(logits, dev_targets).item()
        top5 = logits.topk(5, 1).indices  # precision@5: share of the 5 top words used by some dev caption
        return {"dev_bce": loss, "dev_precision_at_5": (dev_targets.gather(1, top5) > 0).float().mean().item()}

    return Trainer(encoder, optimizer, tcfg, config, scheduler).fit(epoch_batches, loss_fn, evaluate)


def train_decoder(args: argparse.Namespace, data: CaptionData, config: CaptionerConfig, stats: dict,
                  tcfg: TrainerConfig, run: Path) -> History:  # fmt: skip
    """Stage 2: the LSTM decoder on cached region features of the frozen stage-1 CNN, with teacher forcing."""
    enc_ckpt = torch.load(run / "encoder" / "checkpoint.pt", weights_only=False)
    encoder = ImageEncoder(config)
    encoder.load_state_dict(enc_ckpt["state_dict"])
    encoder.eval()
    t0 = time.perf_counter()
    train_feats, dev_feats = feature_views(args.views, args.seed + 1, data, encoder, config, stats)
    print(f"features for {args.views} views in {time.perf_counter() - t0:.1f}s: {tuple(train_feats.shape)}")
    torch.manual_seed(args.seed)
    decoder = CaptionDecoder(config)
    pairs = [(i, c) for i, caps in enumerate(data.train_ids) for c in caps]
    bs = args.decoder_batch_size
    steps = tcfg.epochs * steps_per_epoch(len(pairs), bs)
    optimizer, scheduler = adamw_one_cycle([(decoder.parameters(), args.decoder_lr)], 1e-4, steps, warmup=0.1)
    rng = random.Random(args.seed)
    sp = data.special

    def epoch_batches(epoch: int):
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for i in range(0, len(order), bs):
            chosen = [pairs[j] for j in order[i : i + bs]]
            img = torch.tensor([p[0] for p in chosen])
            view = torch.randint(0, len(train_feats), (len(chosen),))
            yield (train_feats[view, img].float(), *teacher_batch([p[1] for p in chosen], sp))

    def loss_fn(model: CaptionDecoder, batch):
        regions, inputs, targets = batch
        return caption_loss(model, regions, inputs, targets, sp["pad"], args.attention_penalty)

    def evaluate(model: CaptionDecoder) -> dict[str, float]:
        return dev_scores(model, dev_feats, data)

    history = Trainer(decoder, optimizer, tcfg, config, scheduler).fit(epoch_batches, loss_fn, evaluate)
    print(f"decoder done: {history.steps} steps in {history.train_seconds:.1f}s")
    return history


def train_finetune(args: argparse.Namespace, data: CaptionData, config: CaptionerConfig, stats: dict,
                   tcfg: TrainerConfig, run: Path) -> History:  # fmt: skip
    """Stage 3 (optional): encoder and decoder trained together on augmented photos, from stages 1 and 2."""
    model = Captioner(config)
    model.encoder.load_state_dict(torch.load(run / "encoder" / "checkpoint.pt", weights_only=False)["state_dict"])
    model.decoder.load_state_dict(torch.load(run / "decoder" / "checkpoint.pt", weights_only=False)["state_dict"])
    sp = data.special
    n, bs = len(data.train_images), args.finetune_batch_size
    steps = tcfg.epochs * steps_per_epoch(n, bs)
    groups = [(model.encoder.parameters(), args.finetune_lr / 4), (model.decoder.parameters(), args.finetune_lr)]
    optimizer, scheduler = adamw_one_cycle(groups, 1e-4, steps, warmup=0.15)
    gen = torch.Generator().manual_seed(args.seed + 2)
    rng = random.Random(args.seed + 2)
    dev_x = dev_photos(data, config, stats)

    def epoch_batches(epoch: int):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            caps = [rng.choice(data.train_ids[j]) for j in idx.tolist()]  # one of its five captions
            yield (augmented_photos(data, idx, config, stats, gen), *teacher_batch(caps, sp))

    def loss_fn(m: Captioner, batch):
        x, inputs, targets = batch
        return caption_loss(m.decoder, m.encoder(x), inputs, targets, sp["pad"], args.attention_penalty)

    def evaluate(m: Captioner) -> dict[str, float]:
        return dev_scores(m.decoder, region_features(m.encoder, dev_x), data)

    history = Trainer(model, optimizer, tcfg, config, scheduler).fit(epoch_batches, loss_fn, evaluate)
    print(f"fine-tuning done: {history.steps} steps in {history.train_seconds:.1f}s")
    return history
