"""Image captioner on Flickr8k: train (encoder pretraining, then the decoder), export, evaluate.

Training runs in two stages, each checkpointed every epoch and resumable:
1. `encoder`: the CNN learns which caption words occur in a photo (multi-label, soft targets = the share of
   the five captions that use the word), with random crops, flips and colour jitter.
2. `decoder`: the CNN is frozen; its region features for several augmented views of every training photo are
   computed once, and the LSTM decoder learns on them with teacher forcing (cross-entropy plus Xu et al.'s
   doubly stochastic attention penalty). Each epoch ends with a greedy-decoding BLEU-4 on the dev split.
"""

from __future__ import annotations

import argparse
import json

from training.captioning import stages
from training.captioning.data import CaptionData
from training.models.captioner import CaptionerConfig
from training.tasks import common
from training.trainer import TrainerConfig

NAME = "captioner-flickr8k"


def add_arguments(
    train: argparse.ArgumentParser, export: argparse.ArgumentParser, evaluate: argparse.ArgumentParser
) -> None:
    common.add_train_args(train, epochs=25, lr=2e-3, batch_size=64)
    train.add_argument("--stage", choices=["encoder", "decoder", "finetune", "all"], default="all")
    train.add_argument("--finetune-epochs", type=int, default=0, help="stage 3: encoder and decoder together")
    train.add_argument("--finetune-lr", type=float, default=5e-4)
    train.add_argument("--finetune-batch-size", type=int, default=48)
    train.add_argument("--decoder-epochs", type=int, default=12)
    train.add_argument("--decoder-lr", type=float, default=2e-3)
    train.add_argument("--decoder-batch-size", type=int, default=64)
    train.add_argument("--attention", choices=["soft", "none", "first"], default="soft")
    train.add_argument("--views", type=int, default=4, help="augmented views per photo for the decoder stage")
    train.add_argument("--dropout", type=float, default=0.3)
    train.add_argument("--min-word-count", type=int, default=5)
    train.add_argument("--concepts", type=int, default=1000)
    train.add_argument("--attention-penalty", type=float, default=1.0)
    from training.tasks import captioner_export

    captioner_export.add_arguments(export, evaluate)


def stage_config(args: argparse.Namespace, stage: str, epochs: int) -> TrainerConfig:
    """Trainer settings of the decoder and fine-tuning stages: checkpoints in runs/<model>/<stage>/."""
    return TrainerConfig(
        epochs=1 if args.dry_run else epochs,
        seed=args.seed,
        max_steps=3 if args.dry_run else None,
        grad_clip=5.0,
        checkpoint_dir=common.run_dir(args, NAME) / stage,
        resume=args.resume,
        progress=not args.no_progress,
    )


def train(args: argparse.Namespace) -> None:
    data = CaptionData.load(common.data_dir(args), args.min_word_count, args.concepts, stages.MAX_WORDS, args.dry_run)
    run = common.run_dir(args, NAME)
    run.mkdir(parents=True, exist_ok=True)
    data.tokenizer.save(str(run / "tokenizer.json"))
    stats = data.pixel_stats()
    config = CaptionerConfig(
        vocab=data.tokenizer.get_vocab_size(),
        concepts=len(data.concepts),
        dropout=args.dropout,
        attention=args.attention,
    )
    (run / "data.json").write_text(json.dumps({**stats, "concepts": data.concepts, "special": data.special}))
    if args.stage in ("encoder", "all"):
        tcfg = common.trainer_config(args, NAME)
        tcfg.checkpoint_dir = run / "encoder"
        stages.train_encoder(args, data, config, stats, tcfg)
    if args.stage in ("decoder", "all"):
        stages.train_decoder(args, data, config, stats, stage_config(args, "decoder", args.decoder_epochs), run)
    if args.stage == "finetune" or (args.stage == "all" and args.finetune_epochs > 0):
        stages.train_finetune(args, data, config, stats, stage_config(args, "finetune", args.finetune_epochs), run)


def export(args: argparse.Namespace) -> None:
    from training.tasks import captioner_export

    captioner_export.export(args)


def evaluate(args: argparse.Namespace) -> None:
    from training.tasks import captioner_export

    captioner_export.evaluate(args)
