"""The ``mashlink`` command line.

The root app is deliberately thin: every command group lives in its own module
under ``ops/commands/`` and exposes ``register(app)``. Modules are discovered at
start-up, so a new capability adds a file instead of editing a shared one.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from . import commands

app = typer.Typer(
    name="mashlink",
    help="Multi-agency safeguarding integration: hub, connectors, broker and mappings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands(root: typer.Typer) -> None:
    """Import every module in ops/commands and let it add its commands."""
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(root)


@app.callback()
def _root() -> None:
    """Multi-agency safeguarding integration: hub, connectors, broker and mappings."""


_register_commands(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
