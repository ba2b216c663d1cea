"""The `crl` command line: one module per command group; `main` parses and dispatches."""

from crl.cli.main import main

__all__ = ["main"]
