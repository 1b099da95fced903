"""Fuzzing ``mashlink translate``: structure-aware mutants of every format's example files (issue 18).

The oracle (``oracle.py``): exit 0 or 1, no traceback, stdout that parses and
validates as canonical records with no repr, each input inside a deadline
(and, in the subprocess sample, an address-space limit). In the normal test run this is brief and reproducible
(``derandomize=True``, ``CI_EXAMPLES`` per format); for a longer run set
``MASHLINK_FUZZ_EXAMPLES=N`` or use ``mashlink bench fuzz``. A failure names
its class and the folder where the input was saved with the command to
reproduce it.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings

from mashlink.mapping import default_registry
from tests.fuzz.mutators import Op, apply, random_ops
from tests.fuzz.oracle import failures_dir, run_in_process, run_subprocess
from tests.fuzz.seeds import FORMATS, all_seeds
from tests.fuzz.strategies import mutated_input

#: Examples per format in the normal test run (the whole fuzz folder stays well under a minute on 2 cores).
CI_EXAMPLES = 12
EXAMPLES = int(os.environ.get("MASHLINK_FUZZ_EXAMPLES", "0") or 0) or CI_EXAMPLES
FUZZ = settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])


def test_every_translate_format_has_seeds() -> None:
    assert sorted(default_registry().names()) == sorted(FORMATS)
    seeds = all_seeds()
    assert all(seeds[fmt] for fmt in FORMATS)


#: Seeds that are real-world input mashlink still rejects whole (see tests/corpus/test_corpus.py).
REJECTED_SEEDS: frozenset[str] = frozenset()


@pytest.mark.parametrize("fmt", FORMATS)
def test_seeds_translate(fmt: str) -> None:
    """The unmutated seeds are good input: records out, exit 0, the oracle holds."""
    for seed in all_seeds()[fmt]:
        outcome = run_in_process(fmt, seed.files, seed.args)
        assert outcome.failure is None, (seed.name, str(outcome.failure))
        if seed.name not in REJECTED_SEEDS:
            assert outcome.exit_code == 0 and outcome.records > 0, seed.name


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_inputs_keep_the_oracle(fmt: str) -> None:
    @FUZZ
    @given(case=mutated_input(fmt))
    def check(case: tuple) -> None:
        seed, files, ops = case
        outcome = run_in_process(fmt, files, seed.args)
        assert outcome.failure is None, f"{seed.name} {ops}: {outcome.failure}"
        assert outcome.exit_code in (0, 1)

    check()


#: Hostile inputs from the issue's list, run as real processes under the address-space limit.
HOSTILE = [
    ("json", 0, [Op("deep", 1, 7)]),                 # 20,000 nested arrays
    ("fhir", 0, [Op("huge_int", 3, 6)]),             # a 9,290-digit number
    ("hl7v2", 0, [Op("empty_fields", 1, 7)]),        # a long run of empty fields
    ("ctf", 0, [Op("repeat", 1, 5)]),                # a block repeated 300 times
    ("pole", 0, [Op("repeat", 3, 6), Op("repeat", 40, 6)]),   # values repeated into thousands of records
    ("json", 0, [Op("repeat", 1, 6)]),               # a case repeated 5,000 times
]


@pytest.mark.parametrize("fmt,seed_index,ops", HOSTILE, ids=[f"{h[0]}-{h[2][0].name}" for h in HOSTILE])
def test_hostile_inputs_as_a_subprocess_within_memory_and_time(fmt: str, seed_index: int, ops: list[Op]) -> None:
    seed = all_seeds()[fmt][seed_index]
    name = sorted(seed.files)[0]
    files = {**seed.files, name: apply(name, seed.files[name], ops)}
    outcome = run_subprocess(fmt, files, seed.args)
    assert outcome.failure is None, str(outcome.failure)
    assert outcome.exit_code in (0, 1)


def test_random_sample_as_a_subprocess() -> None:
    """A fixed-seed sample of mutants of the multi-file formats through the installed script, under RLIMIT_AS."""
    rng = random.Random(18)
    for fmt in ("pole", "ssda903"):
        seed = rng.choice(all_seeds()[fmt])
        name = rng.choice(sorted(seed.files))
        files = {**seed.files, name: apply(name, seed.files[name], random_ops(rng, name))}
        outcome = run_subprocess(fmt, files, seed.args)
        assert outcome.failure is None, str(outcome.failure)


# --- the bounds are enforced (a breach is a failure with the input saved) ------------------------

def test_a_deadline_breach_is_a_failure_with_the_input_saved(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MASHLINK_FUZZ_FAILURES", str(tmp_path))
    seed = all_seeds()["ctf"][0]
    outcome = run_in_process("ctf", seed.files, seed.args, deadline_s=1e-6)
    assert outcome.failure is not None and outcome.failure.kind == "deadline"
    saved = outcome.failure.saved
    assert saved is not None and saved.parent == failures_dir()
    assert {p.name for p in saved.iterdir()} == set(seed.files) | {"REPRODUCE.txt"}
    assert "mashlink translate ctf" in (saved / "REPRODUCE.txt").read_text(encoding="utf-8")


def test_a_memory_breach_is_a_failure_with_the_input_saved(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MASHLINK_FUZZ_FAILURES", str(tmp_path))
    seed = all_seeds()["json"][0]
    outcome = run_subprocess("json", seed.files, seed.args, memory_bytes=48 * 1024 * 1024)
    assert outcome.failure is not None and outcome.failure.kind == "memory", str(outcome.failure)
    assert outcome.failure.saved is not None and (outcome.failure.saved / "cases.json").exists()


def test_the_oracle_catches_a_repr_in_the_output() -> None:
    from tests.fuzz.oracle import check_output

    _n, failure = check_output('[{"x": "<Element Surname at 0x7f3b2c>"}]')
    assert failure is not None and failure.kind in ("invalid_record", "repr_in_output")
    _n, failure = check_output("[1, 2")
    assert failure is not None and failure.kind == "bad_output"
