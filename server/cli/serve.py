"""`tuneline serve`: the language server, which needs the `lsp` extra (imported only when this runs)."""

from __future__ import annotations

import argparse

from .common import UsageError


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from ..lsp.server import run
    except ImportError as exc:
        raise UsageError(
            f"the language server needs the 'lsp' extra: pip install 'tuneline[lsp]' ({exc.name} is missing)"
        ) from None
    return run(tcp=args.tcp)


def register(sub) -> None:
    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead, for debugging")
    serve.set_defaults(func=cmd_serve)
