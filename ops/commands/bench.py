"""``mashlink bench NAME``: run a benchmark from bench/ and print its table.

Each module in bench/ that defines ``run(quick: bool) -> BenchReport`` and a
``NAME`` is a benchmark. Benchmarks never run inside the test suite.
"""

from __future__ import annotations

import importlib
import json as jsonlib
import pkgutil
from types import ModuleType

import typer
from rich.console import Console
from rich.table import Table

from ... import bench as bench_pkg
from ...bench.report import BenchReport


def _benchmarks() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(bench_pkg.__path__):
        if info.name.startswith("_") or info.name == "report":
            continue
        module = importlib.import_module(f"{bench_pkg.__name__}.{info.name}")
        name = getattr(module, "NAME", None)
        if name and callable(getattr(module, "run", None)):
            found[name] = module
    return found


def _print_table(report: BenchReport) -> None:
    console = Console()
    table = Table(title=f"mashlink bench {report.name}: {report.description}")
    table.add_column("measurement")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("note")
    for row in report.rows:
        table.add_row(row.label, f"{row.value:,.2f}", row.unit, row.note)
    console.print(table)
    for key, target in report.targets.items():
        console.print(f"target {key}: {target} (measured {report.metrics.get(key)})")


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        name: str = typer.Argument(..., help="Benchmark name; 'list' shows them."),
        json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON document."),
        quick: bool = typer.Option(False, "--quick", help="Smaller run for a smoke check."),
    ) -> None:
        """Run a benchmark (candidate and baseline in the same run) and print the comparison."""
        benches = _benchmarks()
        if name == "list":
            for key in sorted(benches):
                typer.echo(f"{key}\t{(benches[key].__doc__ or '').strip().splitlines()[0]}")
            return
        module = benches.get(name)
        if module is None:
            typer.echo(f"unknown benchmark {name!r}; known: {', '.join(sorted(benches))}", err=True)
            raise typer.Exit(2)
        report: BenchReport = module.run(quick=quick)
        if json:
            typer.echo(jsonlib.dumps(report.metrics, indent=2, default=str))
        else:
            _print_table(report)
