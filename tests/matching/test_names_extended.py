"""Extended name evidence: nicknames, spelling variants, phonetic key, graded similarity, one-edit typos."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mashlink.matching.names import (
    are_nicknames,
    are_nicknames_extended,
    are_spelling_variants,
    given_name_similarity,
    jaro_winkler,
    phonetic_key,
    within_one_edit,
)


@pytest.mark.parametrize(("a", "b"), [
    ("mo", "muhammad"), ("mo", "mohammed"), ("jake", "jacob"), ("seb", "sebastian"), ("evie", "evelyn"),
    ("teddy", "theodore"), ("bex", "rebecca"), ("becky", "rebecca"), ("bill", "william"), ("libby", "elizabeth"),
    ("elsie", "libby"), ("millie", "amelia"), ("theo", "theodore"), ("tommy", "thomas"), ("alfie", "alfred"),
    ("maisie", "margaret"), ("kuba", "jakub"), ("sophie", "sophia"), ("izzy", "isabella"), ("freddie", "frederick"),
])
def test_extended_table_knows_common_english_forms(a: str, b: str) -> None:
    assert are_nicknames_extended(a, b) and are_nicknames_extended(b, a)


def test_the_rules_table_is_unchanged() -> None:
    """The pairwise rules treat a nickname as near certain, so their table must not grow with the scorer's."""
    assert are_nicknames("bill", "william")
    assert not are_nicknames("mo", "muhammad")
    assert not are_nicknames("bex", "rebecca")


@pytest.mark.parametrize(("a", "b"), [("harry", "harvey"), ("olivia", "oliver"), ("jacob", "jack"), ("ella", "bella")])
def test_different_names_are_not_nicknames(a: str, b: str) -> None:
    assert not are_nicknames_extended(a, b)


def test_a_name_is_not_its_own_nickname_or_variant() -> None:
    assert not are_nicknames_extended("jacob", "jacob")
    assert not are_spelling_variants("sarah", "sarah")


@pytest.mark.parametrize(("a", "b"), [("mohammed", "muhammad"), ("steven", "stephen"), ("aiden", "aidan"),
                                      ("sean", "shaun"), ("isobel", "isabel")])
def test_spelling_variants(a: str, b: str) -> None:
    assert are_spelling_variants(a, b) and are_spelling_variants(b, a)


def test_nicknames_are_not_spelling_variants() -> None:
    """Twins can be Tommy and Thomas; no one registers twins as Steven and Stephen."""
    assert not are_spelling_variants("tommy", "thomas")
    assert not are_spelling_variants("millie", "amelia")


@pytest.mark.parametrize(("a", "b"), [("kyran", "kieran"), ("ana", "ann"), ("smith", "smyth"), ("knight", "night"),
                                      ("catherine", "kathryn"), ("philips", "phillips"), ("wright", "right"),
                                      ("jayden", "jaden")])
def test_phonetic_key_equal_for_names_that_sound_alike(a: str, b: str) -> None:
    assert phonetic_key(a) == phonetic_key(b) != ""


@pytest.mark.parametrize(("a", "b"), [("oliver", "olivia"), ("jack", "james"), ("smith", "jones"), ("ella", "bella")])
def test_phonetic_key_differs_for_different_names(a: str, b: str) -> None:
    assert phonetic_key(a) != phonetic_key(b)


def test_phonetic_key_of_nothing_is_empty() -> None:
    assert phonetic_key("") == "" and phonetic_key("--") == ""


def test_graded_similarity_has_no_cliff_for_sound_alike_names() -> None:
    """Kyran/Kieran (Jaro-Winkler 0.84) and Ana/Ann (0.82) fell under the old 0.85 cliff and were never found."""
    assert jaro_winkler("kyran", "kieran") < 0.85 and jaro_winkler("ana", "ann") < 0.85
    assert given_name_similarity("kyran", "kieran") >= 0.85
    assert given_name_similarity("ana", "ann") >= 0.85
    assert given_name_similarity("jacob", "jake") == 0.95
    assert given_name_similarity("mohammed", "muhammad") == 0.98
    assert given_name_similarity("oliver", "oliver") == 1.0
    assert given_name_similarity("oliver", "") == 0.0
    assert given_name_similarity("oliver", "zainab") < 0.6


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("jayden", "jaydne", True),  # adjacent swap
    ("lily", "lilly", True),  # insertion
    ("olivia", "olivea", True),  # substitution
    ("ella", "bella", True),
    ("abc", "acbd", False),
    ("jayden", "jayden", False),
    ("jayden", "jadyne", False),
    ("ab", "ba", True),
    ("abcd", "badc", False),
])
def test_within_one_edit(a: str, b: str, expected: bool) -> None:
    assert within_one_edit(a, b) is expected
    assert within_one_edit(b, a) is expected


def _one_edit_brute_force(a: str, b: str) -> bool:
    if a == b:
        return False
    letters = set(a + b) | {"x"}
    edits = set()
    for i in range(len(a) + 1):
        for ch in letters:
            edits.add(a[:i] + ch + a[i:])
    for i in range(len(a)):
        edits.add(a[:i] + a[i + 1:])
        for ch in letters:
            edits.add(a[:i] + ch + a[i + 1:])
    for i in range(len(a) - 1):
        edits.add(a[:i] + a[i + 1] + a[i] + a[i + 2:])
    return b in edits


_NAMES = st.text(alphabet="abcde", min_size=0, max_size=6)


@settings(max_examples=300, deadline=None)
@given(_NAMES, _NAMES)
def test_within_one_edit_agrees_with_brute_force(a: str, b: str) -> None:
    assert within_one_edit(a, b) == _one_edit_brute_force(a, b)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=10), st.text(alphabet="abcdefghijklmnopqrstuvwxyz",
                                                                            max_size=10))
def test_graded_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    s = given_name_similarity(a, b)
    assert s == given_name_similarity(b, a)
    assert 0.0 <= s <= 1.0
    assert (s == 1.0) == (a == b and a != "")


def test_distinct_names_that_sound_alike_are_not_spelling_variants() -> None:
    """Variants auto-match like an exact name, so only true spellings of one name belong there."""
    assert not are_spelling_variants("lewis", "louis")
    assert not are_spelling_variants("sophie", "sophia")
    assert not are_spelling_variants("ella", "bella")
