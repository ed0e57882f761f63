"""The `backlit` command: the playground by default, `backlit train` for the terminal."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="backlit",
        description="Backpropagation, lit up. With no sub-command, starts the playground.",
    )
    parser.add_argument("--version", action="version", version=f"backlit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="start the playground web server (the default)")
    from ..server.run import add_serve_arguments

    add_serve_arguments(serve)

    train = sub.add_parser("train", help="train a network in the terminal and write plots")
    from .train import add_train_arguments

    add_train_arguments(train)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["serve", *argv]
    args = parser.parse_args(argv)
    if args.command == "train":
        from .train import run_train

        return run_train(args, parser=parser)
    from ..server.run import run_serve

    return run_serve(args)


if __name__ == "__main__":
    sys.exit(main())
