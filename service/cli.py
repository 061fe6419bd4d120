"""The `dlserve` command: serve and list models (service only); train/export/evaluate (needs the train extra)."""

from __future__ import annotations

import argparse
import sys

TRAINING_COMMANDS = ("train", "export", "evaluate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlserve", description="Train, export and serve CNN/RNN models with ONNX.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="serve the model repository over HTTP",
        description="Serve the model repository. Every DLSERVE_* environment variable applies; flags override it.",
    )
    serve.add_argument("--host", help="bind address (DLSERVE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (DLSERVE_PORT, default 8000)")
    serve.add_argument("--model-dir", help="model repository (DLSERVE_MODEL_DIR, default ./models)")
    models = sub.add_parser(
        "models", help="list the model repository with status and metrics", description="List the model repository."
    )
    models.add_argument("--model-dir", help="model repository (DLSERVE_MODEL_DIR, default ./models)")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    try:
        from training.cli import add_commands
    except ImportError:  # the service install has no torch: training commands are absent, not broken
        for command in TRAINING_COMMANDS:
            sub.add_parser(command, help=f"(needs `pip install dlserve[train]`) {command} a model")
    else:
        add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    # Training commands: `dlserve train MODEL [task options]`; the task parses its own options.
    if len(argv) >= 2 and argv[0] in TRAINING_COMMANDS and not argv[1].startswith("-"):
        try:
            from training.cli import TASKS, run
        except ImportError as e:
            sys.exit(f"dlserve {argv[0]} needs the training extra (pip install 'dlserve[train]'): {e}")
        if argv[1] not in TASKS:
            sys.exit(f"unknown model {argv[1]!r}; available: {', '.join(TASKS)}")
        run(argv[0], argv[1], argv[2:])
        return
    args = build_parser().parse_args(argv)
    if args.command in TRAINING_COMMANDS:
        build_parser().parse_args([args.command, "--help"])
    elif args.command == "serve":
        from service.server import serve

        serve(host=args.host, port=args.port, model_dir=args.model_dir)
    elif args.command == "models":
        from service.listing import print_models

        print_models(model_dir=args.model_dir, as_json=args.json)


if __name__ == "__main__":
    main()
