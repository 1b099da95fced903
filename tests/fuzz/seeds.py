"""Valid seed documents per ``mashlink translate`` format: the repository's example files.

Mutation starts from inputs the readers accept (the fixtures the tests use,
the POLE schema's examples and the public corpus in ``tests/corpus/``), so
most mutants get past the first parser and exercise the mapping behind it.
A seed is one input of a format: one file, or a set of files given together
(the POLE and SSDA903 CSV sets), with the extra arguments it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"

#: Every format ``mashlink translate`` registers (a test checks this against the registry).
FORMATS = ("cin", "csv", "ctf", "fhir", "hl7v2", "json", "pole", "ssda903")


@dataclass(frozen=True)
class Seed:
    """One valid input: ``files`` (name -> bytes) translated together, with ``args`` for the command."""

    fmt: str
    name: str
    files: dict[str, bytes]
    args: tuple[str, ...] = field(default=())


def _file(fmt: str, path: Path, *args: str) -> Seed:
    return Seed(fmt, str(path.relative_to(ROOT)), {path.name: path.read_bytes()}, tuple(args))


def _corpus(fmt: str) -> list[Seed]:
    folder = TESTS / "corpus" / fmt
    if not folder.is_dir():
        return []
    args = ("--la", "999") if fmt in ("cin", "ssda903") else ()
    suffixes = (".json", ".xml", ".hl7", ".csv")
    seeds = [_file(fmt, p, *args) for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in suffixes]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("_")):  # a file set
        files = {p.name: p.read_bytes() for p in sorted(sub.iterdir()) if p.suffix.lower() in suffixes}
        if files:
            seeds.append(Seed(fmt, str(sub.relative_to(ROOT)), files, args))
    return seeds


@lru_cache(maxsize=1)
def all_seeds() -> dict[str, list[Seed]]:
    """Format -> seeds (built once; the fixtures are read from the working tree)."""
    from tests.social_care.sc_fixtures import SSDA903_EPISODES, SSDA903_HEADER, SSDA903_MISSING, SSDA903_XML

    data = TESTS / "mapping" / "data"
    pole_csv = ROOT / "connectors" / "police" / "schema" / "examples" / "csv"
    seeds: dict[str, list[Seed]] = {
        "json": [_file("json", data / "cases.json")],
        "csv": [_file("csv", data / "cases.csv")],
        "hl7v2": [_file("hl7v2", data / "adt.hl7")],
        "fhir": [_file("fhir", data / "patient.fhir.json")],
        "pole": [_file("pole", ROOT / "connectors" / "police" / "schema" / "examples" / "pole-example.json"),
                 _file("pole", TESTS / "police" / "fixtures" / "pole-graded.json"),
                 Seed("pole", "connectors/police/schema/examples/csv",
                      {p.name: p.read_bytes() for p in sorted(pole_csv.glob("*.csv"))})],
        "ctf": [_file("ctf", p) for p in sorted((TESTS / "education" / "fixtures").glob("ctf-*.xml"))],
        "cin": [_file("cin", data / "cin.xml", "--la", "999")],
        "ssda903": [_file("ssda903", TESTS / "social_care" / "fixtures" / "expssda903.xml", "--la", "999"),
                    Seed("ssda903", "sc_fixtures.SSDA903_XML", {"ssda903.xml": SSDA903_XML.encode()}, ("--la", "999")),
                    Seed("ssda903", "sc_fixtures.SSDA903 CSV set",
                         {"header.csv": SSDA903_HEADER.encode(), "episodes.csv": SSDA903_EPISODES.encode(),
                          "missing.csv": SSDA903_MISSING.encode()}, ("--la", "999"))],
    }
    for fmt in FORMATS:
        seeds[fmt].extend(_corpus(fmt))
    return seeds
