"""The `dlserve` command: serve, list and package models here; other packages add commands through the
`dlserve.commands` entry points (the training package adds train, export and evaluate), so the service imports
none of them.

A command group is a module with `TASKS` (the models it knows), `add_commands(subparsers)` and
`run(command, model, argv)`; it may raise ImportError when its extra is not installed, and its commands are then
listed as needing it.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

from service import package_command

PLUGINS = "dlserve.commands"


def plugin_commands() -> dict[str, EntryPoint]:
    """Command name -> the entry point of the module that provides it."""
    return {ep.name: ep for ep in entry_points(group=PLUGINS)}


def load(ep: EntryPoint) -> ModuleType:
    try:
        return ep.load()
    except ImportError as e:
        sys.exit(f"dlserve {ep.name} needs {ep.value} with its extra (pip install 'dlserve[train]'): {e}")


def add_plugins(sub: argparse._SubParsersAction) -> None:
    groups: dict[str, list[EntryPoint]] = {}
    for ep in plugin_commands().values():
        groups.setdefault(ep.value, []).append(ep)
    for value, eps in groups.items():
        try:
            module = eps[0].load()
        except ImportError:  # e.g. the service install has no torch: the commands are absent, not broken
            for ep in eps:
                sub.add_parser(ep.name, help=f"(needs {value} with its extra: pip install 'dlserve[train]')")
        else:
            module.add_commands(sub)


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
    package_command.add_commands(sub)
    add_plugins(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    plugins = plugin_commands()
    # A plugin's commands take the model first and let it parse its own options: `dlserve train MODEL [options]`.
    if len(argv) >= 2 and argv[0] in plugins and not argv[1].startswith("-"):
        module = load(plugins[argv[0]])
        if argv[1] not in module.TASKS:
            sys.exit(f"unknown model {argv[1]!r}; available: {', '.join(module.TASKS)}")
        module.run(argv[0], argv[1], argv[2:])
        return
    args = build_parser().parse_args(argv)
    if args.command in plugins:
        build_parser().parse_args([args.command, "--help"])
    elif args.command == "serve":
        from service.server import serve

        serve(host=args.host, port=args.port, model_dir=args.model_dir)
    elif args.command == "models":
        from service.listing import print_models

        print_models(model_dir=args.model_dir, as_json=args.json)
    elif args.command == "package":
        package_command.run(args)


if __name__ == "__main__":
    main()
