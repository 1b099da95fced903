"""Hypothesis strategies: a seed of a format, one of its files, and a list of structure-aware ops.

The ops are data (``mutators.Op``), so hypothesis shrinks a failing input to
the fewest, smallest ops on the simplest seed: the saved reproduction is
usually one op on one example file.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.fuzz.mutators import BYTE_OPS, FAMILIES, SIZES, Op, apply, syntax_of
from tests.fuzz.seeds import Seed, all_seeds


def ops_for(filename: str, max_ops: int = 4) -> st.SearchStrategy[list[Op]]:
    """Op lists for a file: mostly structural ops of its syntax, sometimes a byte-level one."""
    family = FAMILIES[syntax_of(filename)]
    structural = st.builds(Op, st.sampled_from(family), st.integers(0, 10_000), st.integers(0, len(SIZES) - 1))
    byte = st.builds(Op, st.sampled_from(BYTE_OPS), st.integers(0, 10_000), st.integers(0, len(SIZES) - 1))
    return st.lists(st.one_of(structural, structural, structural, byte), min_size=1, max_size=max_ops)


@st.composite
def mutated_input(draw: Any, fmt: str) -> tuple[Seed, dict[str, bytes], list[Op]]:
    """(seed, mutated files, ops): one file of a seed of ``fmt`` mutated; the others as they were."""
    seed = draw(st.sampled_from(all_seeds()[fmt]))
    names = sorted(seed.files)
    name = draw(st.sampled_from(names))
    ops = draw(ops_for(name))
    files = dict(seed.files)
    files[name] = apply(name, files[name], ops)
    return seed, files, ops
