"""Name comparison for cross-agency matching: normalisation, Jaro–Winkler, nicknames.

Agencies write the same child's name differently: "O'Brien" and "OBRIEN",
"Zoë" and "Zoe", "Bill" in a police log and "William" on the GP record,
"Smith-Jones" at school and "Smith" at the hospital. These helpers turn names
into comparable tokens and score how alike two tokens are. They are pure and
symmetric (``similarity(a, b) == similarity(b, a)``) so that the hub's answer
never depends on which agency's record is compared first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_NON_LETTERS = re.compile(r"[^a-z\s-]")
_SEPARATORS = re.compile(r"[\s-]+")

#: Groups of given names that people use interchangeably. Deliberately small and
#: conservative: a wrong entry here merges two different children, a missing one
#: only sends a record to a person as a candidate. A name may sit in several
#: groups ("sam" is Samuel and Samantha; "charlie" is Charles and Charlotte).
NICKNAME_GROUPS: tuple[frozenset[str], ...] = tuple(
    frozenset(group.split())
    for group in (
        "william bill billy will willy liam",
        "elizabeth liz lizzie lizzy beth betty bess eliza elsie libby",
        "john jack johnny jon",
        "alfred alfie alf",
        "charles charlie chas chuck",
        "charlotte charlie lottie",
        "eleanor ellie nell nellie elle",
        "robert rob robbie bob bobby bert",
        "richard rich richie rick ricky dick",
        "james jim jimmy jamie",
        "thomas tom tommy",
        "joseph joe joey",
        "daniel dan danny",
        "michael mike mikey mick mickey",
        "edward ed eddie ted teddy ned",
        "henry harry hal hank",
        "margaret maggie meg peggy madge",
        "katherine catherine kathryn kate katie kathy cathy kat kitty",
        "rebecca becky becca",
        "samuel sam sammy",
        "samantha sam sammy",
        "alexander alex alec xander",
        "alexandra alex lexi sandy",
        "christopher chris kit",
        "christine christina chris tina",
        "benjamin ben benji benny",
        "matthew matt matty",
        "nicholas nick nicky",
        "anthony tony ant",
        "andrew andy drew",
        "jennifer jen jenny",
        "victoria vicky vicki tori",
        "abigail abby abbie",
        "olivia liv livvy",
        "isabella isabelle izzy bella issy",
        "amelia millie milly",
        "emily em emmy",
        "frederick fred freddie freddy",
        "harriet hattie",
        "jessica jess jessie",
        "joshua josh",
        "nathan nathaniel nate nat",
        "oliver ollie olly",
        "patrick pat paddy",
        "stephen steven steve stevie",
        "susan sue susie",
        "theodore theo",
        "zachary zach zack",
        "archibald archie",
        "florence flo florrie",
        "gabriel gabe",
        "leonardo leo",
        "maximilian max",
        "maxwell max",
    )
)


def _nickname_index(groups: Iterable[frozenset[str]]) -> dict[str, frozenset[int]]:
    index: dict[str, set[int]] = {}
    for number, group in enumerate(groups):
        for name in group:
            index.setdefault(name, set()).add(number)
    return {name: frozenset(numbers) for name, numbers in index.items()}


_NICKNAMES = _nickname_index(NICKNAME_GROUPS)


def normalise_token(raw: str) -> str:
    """Lower case, accents folded, apostrophes and punctuation removed ("O'Brien" -> "obrien")."""
    folded = unicodedata.normalize("NFKD", raw)
    ascii_only = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    ascii_only = ascii_only.replace("'", "").replace("\u2019", "")
    return _NON_LETTERS.sub("", ascii_only).strip()


def split_tokens(raw: str) -> list[str]:
    """Normalised tokens of a name part; hyphens and spaces separate ("Smith-Jones" -> smith, jones)."""
    return [tok for tok in _SEPARATORS.split(normalise_token(raw)) if tok]


def are_nicknames(a: str, b: str) -> bool:
    """True when two different normalised given names share a nickname group."""
    if a == b:
        return False
    return bool(_NICKNAMES.get(a, frozenset()) & _NICKNAMES.get(b, frozenset()))


def jaro_winkler(a: str, b: str, *, prefix_scale: float = 0.1) -> float:
    """Jaro–Winkler similarity in [0, 1]; 1 for equal strings.

    The inputs are put in a canonical order first: the greedy matching step of
    Jaro is not guaranteed symmetric, and a match score must not depend on
    which agency's record is on the left.
    """
    if a == b:
        return 1.0 if a else 0.0
    if not a or not b:
        return 0.0
    s1, s2 = (a, b) if a <= b else (b, a)
    window = max(max(len(s1), len(s2)) // 2 - 1, 0)
    used = [False] * len(s2)
    matched1: list[str] = []
    for i, ch in enumerate(s1):
        lo, hi = max(0, i - window), min(len(s2), i + window + 1)
        for j in range(lo, hi):
            if not used[j] and s2[j] == ch:
                used[j] = True
                matched1.append(ch)
                break
    m = len(matched1)
    if m == 0:
        return 0.0
    matched2 = [s2[j] for j in range(len(s2)) if used[j]]
    transpositions = sum(x != y for x, y in zip(matched1, matched2)) / 2
    jaro = (m / len(s1) + m / len(s2) + (m - transpositions) / m) / 3
    prefix = 0
    for x, y in zip(s1[:4], s2[:4]):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * prefix_scale * (1 - jaro)
