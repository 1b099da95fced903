"""Imports run one way: schemas <- config, mapping, matching, broker <- connectors, hub <- bench <- ops.

Why a test: a layer that imports upward cannot be reused or tested below it
(a connector importing the hub drags the hub's database into every agency's
process). The walk reads every module's import statements, relative ones
resolved against the module's package (code inside the package imports
relatively), lazy imports inside functions and ``TYPE_CHECKING`` blocks
included, so a new upward import fails here instead of being found in review.

Two rules on top of the layers:

* ops (the command line) drives the benchmarks; bench imports no ops and
  nothing but ops imports bench, so a benchmark measures the layers below
  without the command line's start-up.
* Production connector code imports nothing from ``connectors/simulators``:
  the simulated agency systems may use production code, never the reverse,
  so a real agency's process never carries the synthetic population.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What each part may import from the other mashlink parts (itself is always allowed).
ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "config": frozenset({"schemas"}),
    "mapping": frozenset({"schemas", "config"}),
    "matching": frozenset({"schemas", "config"}),
    "broker": frozenset({"schemas", "config"}),
    "connectors": frozenset({"schemas", "config", "mapping", "matching", "broker"}),
    "hub": frozenset({"schemas", "config", "mapping", "matching", "broker"}),
    # Benchmarks drive everything below the command line; the command line runs them.
    "bench": frozenset({"schemas", "config", "mapping", "matching", "broker", "connectors", "hub"}),
    # The application layer: the command line and web pages drive everything, benchmarks included.
    "ops": frozenset({"schemas", "config", "mapping", "matching", "broker", "connectors", "hub", "bench"}),
}

SIMULATORS = "mashlink.connectors.simulators"
#: Where ``connectors.simulators`` may be imported from: the application layers, and the
#: simulated side of connectors/ (the simulated systems themselves; the reference connectors
#: that answer from them for demos and ``--simulated``).
SIMULATED_SIDE: tuple[str, ...] = (
    "ops/", "bench/",
    "connectors/simulators/", "connectors/reference/",
)


def _package_of(path: Path, root: Path) -> list[str]:
    """The dotted package a file belongs to (``mashlink.hub`` for ``hub/wiring.py``)."""
    return ["mashlink", *path.relative_to(root).parts[:-1]]


def _imported_modules(path: Path, package: list[str]) -> list[tuple[int, str]]:
    """Every ``mashlink`` name a file imports, fully qualified, with its line.

    ``from .x import a`` in package ``mashlink.hub`` gives ``mashlink.hub.x.a``, so a
    check on a prefix (``mashlink.connectors.simulators``) sees ``from ..connectors
    import simulators`` as well as ``from ..simulators.base import SimRecord``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names = [module if alias.name == "*" else f"{module}.{alias.name}" for alias in node.names]
        found.extend((node.lineno, name) for name in names if name.startswith("mashlink."))
    return sorted(found)


def _files(part: str) -> list[Path]:
    return sorted((ROOT / part).rglob("*.py"))


def _violations(part: str) -> list[str]:
    allowed = ALLOWED[part] | {part}
    bad: list[str] = []
    for path in _files(part):
        for line, name in _imported_modules(path, _package_of(path, ROOT)):
            target = name.split(".")[1]
            if target in ALLOWED and target not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return bad


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_no_part_imports_a_layer_above_it(part: str) -> None:
    assert (ROOT / part).is_dir(), f"{part}/ is a layer in ALLOWED but not a directory"
    assert _violations(part) == []


def test_only_the_command_line_imports_the_benchmarks() -> None:
    assert [part for part, allowed in ALLOWED.items() if "bench" in allowed] == ["ops"]
    assert "ops" not in ALLOWED["bench"]


def test_production_connectors_import_no_simulator() -> None:
    bad: list[str] = []
    for part in sorted(ALLOWED):
        for path in _files(part):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(SIMULATED_SIDE):
                continue
            for line, name in _imported_modules(path, _package_of(path, ROOT)):
                if name == SIMULATORS or name.startswith(SIMULATORS + "."):
                    bad.append(f"{relative}:{line} imports {name}")
    assert bad == []


def _production_connector_modules() -> list[str]:
    modules = []
    for path in _files("connectors"):
        relative = path.relative_to(ROOT).as_posix()
        if not relative.startswith(SIMULATED_SIDE):
            modules.append("mashlink." + relative.removesuffix(".py").replace("/", ".").removesuffix(".__init__"))
    return modules


def test_loading_production_connectors_loads_no_simulator() -> None:
    """Transitively too: importing every production connector module in a fresh process loads no simulator.

    The static walk sees direct imports only; an import of the reference connectors (which do use
    the simulators) from production code would still drag the synthetic population in.
    """
    modules = _production_connector_modules()
    assert "mashlink.connectors.police.store" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    loaded = sorted(m for m in sys.modules if m.startswith('mashlink.connectors.simulators'))\n"
        "    if loaded:\n"
        "        print(name, 'loads', loaded[0]); break\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout == ""


def test_the_walk_sees_relative_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """The checker itself: relative imports resolve; one inside a function or TYPE_CHECKING block counts."""
    module = tmp_path / "connectors" / "police" / "m.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mashlink.hub.service import HubService\n"
        "def f():\n    import mashlink.connectors.base\n    from mashlink import ops\n"
        "from ..simulators.base import SimRecord\n"
        "from ... import bench\n"
        "from .store import *\n"
    )
    assert _imported_modules(module, _package_of(module, tmp_path)) == [
        (3, "mashlink.hub.service.HubService"), (5, "mashlink.connectors.base"), (6, "mashlink.ops"),
        (7, "mashlink.connectors.simulators.base.SimRecord"), (8, "mashlink.bench"),
        (9, "mashlink.connectors.police.store"),
    ]


def test_the_walk_reads_the_real_tree() -> None:
    """Not vacuous: the hub's broker factory is seen importing the broker it builds."""
    path = ROOT / "hub" / "wiring.py"
    names = {name for _line, name in _imported_modules(path, _package_of(path, ROOT))}
    assert "mashlink.broker.client.Broker" in names
