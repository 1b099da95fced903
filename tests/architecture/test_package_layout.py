"""The package layout a reader's tools can follow.

The parts live at the top of the repository and are installed as
``mashlink.<part>`` by the ``[tool.setuptools]`` table in pyproject.toml. Two
things keep that honest: every package directory is listed there (a missing
one would install without its modules and fail only for users), and code inside
the package imports its own modules relatively, so pyright or an editor resolve
them from a plain clone (an absolute ``mashlink.`` import resolves only through
the editable-install hook).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("schemas", "mapping", "broker", "hub", "connectors", "ops", "config", "bench", "matching")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _package_dirs() -> set[str]:
    names = {"mashlink"}
    for part in PARTS:
        for init in (ROOT / part).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            names.add("mashlink." + ".".join(rel.parts))
    return names


def test_every_package_directory_is_listed_and_nothing_else() -> None:
    tool = _pyproject()["tool"]["setuptools"]
    listed = set(tool["packages"])
    on_disk = _package_dirs()
    assert on_disk - listed == set(), f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    assert listed - on_disk == set(), f"listed but not a package directory: {sorted(listed - on_disk)}"
    assert tool["package-dir"] == {"mashlink": "mashlink", **{f"mashlink.{p}": p for p in PARTS}}


def test_there_is_one_build_configuration_file() -> None:
    assert not (ROOT / "setup.py").exists()
    assert not (ROOT / "setup.cfg").exists()


def test_package_data_globs_name_files_that_exist() -> None:
    data = _pyproject()["tool"]["setuptools"]["package-data"]
    for package, globs in data.items():
        directory = ROOT / _pyproject()["tool"]["setuptools"]["package-dir"][package]
        for pattern in globs:
            assert list(directory.glob(pattern)), f"{package}: {pattern!r} matches no file"


def _absolute_self_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "mashlink" or node.module.startswith("mashlink."):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "mashlink" or alias.name.startswith("mashlink."):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} import {alias.name}")
    return found


# Alembic executes its env.py by file path, not as a module of the package, so a
# relative import there has no parent package: it imports the models absolutely.
LOADED_BY_PATH = {Path("hub/migrations/env.py")}


def test_code_inside_the_package_imports_itself_relatively() -> None:
    offenders = [
        hit
        for part in PARTS
        for path in sorted((ROOT / part).rglob("*.py"))
        if path.relative_to(ROOT) not in LOADED_BY_PATH
        for hit in _absolute_self_imports(path)
    ]
    assert offenders == [], "use a relative import so tools resolve it from a clone:\n" + "\n".join(offenders)


def test_relative_imports_resolve_to_files_in_the_clone() -> None:
    """What pyright does: follow each relative import by path, with no install."""
    unresolved = []
    for part in PARTS:
        for path in sorted((ROOT / part).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom) or node.level == 0:
                    continue
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                if base == ROOT.parent or not (base == ROOT or ROOT in base.parents):
                    unresolved.append(f"{path.relative_to(ROOT)}:{node.lineno} climbs above the repository")
                    continue
                target = base.joinpath(*node.module.split(".")) if node.module else base
                if node.module:
                    ok = target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()
                else:
                    ok = all(
                        (base / alias.name).with_suffix(".py").is_file() or (base / alias.name / "__init__.py").is_file()
                        or (base / "__init__.py").is_file()
                        for alias in node.names
                    )
                if not ok:
                    unresolved.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.module or ''}")
    assert unresolved == [], "\n".join(unresolved)
