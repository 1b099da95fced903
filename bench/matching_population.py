"""A seeded synthetic population and corrupted referral subjects for ``mashlink bench matching``.

Matching is only as good as the population it is measured on. A handful of
hand-made families (``connectors/simulators/population.py``) exercises each
identity problem once; measuring "0 wrong-person auto-matches at 1,000,000
people" needs the skew real populations have: one child in a hundred is a
Smith, names cluster by birth year and community, twins share everything but
a given name (sometimes two forms of one name: Elsie and Libby), siblings
share surnames, postcodes and parents, mothers change surname and unborn
children are known only through their mother.

Design, so a million people fit the 2-core, 2 GB budget:

* Households are generated in one seeded stream (``iter_households``) as
  small slotted dataclasses; nothing holds the whole population. The same
  seed and size always give the same households, so the benchmark can read
  the stream twice (once to choose subjects, once to build the index in a
  separate process) instead of keeping it.
* ``index_records`` turns the stream into canonical ``Person`` records with
  stable record ids (``P0000001``), validated like any agency record.
* ``make_subjects`` picks referral subjects by reservoir sampling per kind
  (one pass, memory bounded by the subject count) and corrupts them the way
  referrals differ from agency records. Each subject carries its true record
  id, or ``None`` for the ~20 % who are not in the index at all: twins,
  siblings and parents of indexed people, and whole households the agency
  has never met.

Everything is synthetic: NHS numbers come only from the 999 test range and
pass modulus 11 (``schemas.identifiers.nhs_check_digit``), postcodes are in
``Z``-prefixed areas that do not exist but have a valid format, streets and
towns are invented, and names are common given names and surnames (or
syllable-built ones for the long tail), never a real individual.
"""

from __future__ import annotations

import argparse
import json
import random
from array import array
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from itertools import accumulate
from math import gcd
from pathlib import Path

from ..connectors.simulators import names as sim_names
from ..schemas.codes import Sex
from ..schemas.identifiers import nhs_check_digit
from ..schemas.person import Person

# --------------------------------------------------------------------------- name pools

#: Common surnames with a rough relative frequency per 100,000 people (the head
#: of the distribution). Ordinary, very widely held names from several
#: communities; none describes an individual.
_SURNAME_HEAD: tuple[tuple[str, int], ...] = (
    ("Smith", 1150), ("Jones", 760), ("Williams", 600), ("Taylor", 500), ("Brown", 490), ("Davies", 440),
    ("Evans", 330), ("Wilson", 310), ("Thomas", 300), ("Johnson", 290), ("Roberts", 280), ("Patel", 270),
    ("Khan", 250), ("Robinson", 240), ("Thompson", 240), ("Wright", 240), ("Walker", 230), ("White", 220),
    ("Edwards", 210), ("Hughes", 210), ("Green", 210), ("Hall", 210), ("Lewis", 200), ("Harris", 200),
    ("Clarke", 190), ("Jackson", 190), ("Singh", 180), ("Wood", 180), ("Turner", 170), ("Martin", 170),
    ("Cooper", 170), ("Hill", 170), ("Ward", 160), ("Morris", 160), ("Moore", 160), ("Clark", 160),
    ("Ali", 150), ("Begum", 150), ("Lee", 150), ("King", 150), ("Baker", 150), ("Harrison", 150),
    ("Hussain", 140), ("Morgan", 140), ("Allen", 140), ("James", 140), ("Scott", 140), ("Ahmed", 130),
    ("Phillips", 130), ("Watson", 130), ("Davis", 130), ("Parker", 130), ("Price", 130), ("Bennett", 120),
    ("Young", 120), ("Griffiths", 120), ("Mitchell", 120), ("Kelly", 120), ("Cook", 120), ("Carter", 110),
    ("Richardson", 110), ("Bailey", 110), ("Collins", 110), ("Bell", 110), ("Shaw", 110), ("Murphy", 110),
    ("Miller", 100), ("Cox", 100), ("Kaur", 90), ("Richards", 90), ("Marshall", 90), ("Anderson", 90),
    ("Simpson", 90), ("Ellis", 90), ("Adams", 90), ("Wilkinson", 80), ("Foster", 80), ("Rahman", 80),
    ("Chapman", 80), ("Powell", 80), ("Webb", 80), ("Rogers", 80), ("Gray", 80), ("Mason", 80), ("Hunt", 70),
    ("Campbell", 70), ("Miah", 70), ("Shah", 70), ("Matthews", 70), ("Owen", 70), ("Palmer", 70), ("Holmes", 70),
    ("Mills", 70), ("Barnes", 70), ("Knight", 70), ("Lloyd", 70), ("Butler", 70), ("Russell", 70), ("Mohamed", 60),
    ("Akhtar", 60), ("Gill", 60), ("Barker", 60), ("Fisher", 60), ("Stevens", 60), ("Jenkins", 60), ("Murray", 60),
    ("Dixon", 60), ("Harvey", 60), ("Graham", 60), ("Pearson", 60), ("Fletcher", 50), ("Walsh", 50), ("Iqbal", 50),
    ("Mahmood", 50), ("Gibson", 50), ("Howard", 50), ("Andrews", 50), ("Stewart", 50), ("Elliott", 50),
    ("Reynolds", 50), ("Saunders", 50), ("Payne", 50), ("Fox", 50), ("Ford", 50), ("Pearce", 50), ("Day", 50),
    ("Brooks", 50), ("West", 50), ("Lawrence", 50), ("Cole", 50), ("Atkinson", 50), ("Bradley", 50),
    ("Mohammed", 40), ("Nowak", 40), ("Sharma", 40), ("Spencer", 40), ("Dawson", 40), ("Ball", 40), ("Burton", 40),
    ("O'Brien", 40), ("Watts", 40), ("Rose", 40), ("Booth", 40), ("Perry", 40), ("Ryan", 40), ("Grant", 40),
    ("Wells", 40), ("Armstrong", 40), ("Francis", 40), ("Rees", 40), ("Hayes", 40), ("Hart", 40), ("Hudson", 40),
    ("Nguyen", 30), ("Chen", 30), ("Kowalski", 25), ("Wang", 25), ("Wisniewski", 20), ("Popescu", 20),
    ("Okafor", 20), ("Adeyemi", 20), ("Mensah", 20), ("Abdi", 20), ("Osei", 15), ("Yilmaz", 15), ("Ionescu", 15),
)
_TAIL_PREFIXES = (
    "Ash", "Brad", "Cal", "Dun", "El", "Fair", "Gold", "Hather", "Ing", "Kel", "Lang", "Marl", "North", "Oak",
    "Pen", "Rad", "Stan", "Thorn", "Under", "Wen", "Whit", "Yar", "Bram", "Carr", "Dal", "Fen", "Gar", "Hol",
    "Kirk", "Lin", "Mid", "Nor", "Pax", "Ran", "Shel", "Tal", "Wal", "Wes", "Bax", "Cran", "Dray", "Elm",
    "Frod", "Grim", "Hart", "Ket", "Lox", "Mab", "Orm", "Pim", "Rud", "Sow", "Tib", "Ver", "Wib", "Zel",
)
_TAIL_SUFFIXES = (
    "ley", "worth", "ton", "by", "field", "ham", "stone", "wood", "ridge", "more", "cott", "dale", "well",
    "brook", "shaw", "ford", "hurst", "combe", "thwaite", "bury", "den", "gate", "holm", "ock",
)
#: Syllables for long-tail surnames from other communities (made up, e.g. "Borowicz", "Adebanjo").
_TAIL_OTHER = (
    (("Bor", "Kal", "Mar", "Zar", "Wol", "Sob", "Pal", "Gor", "Lis", "Dab"), ("owski", "owicz", "czyk", "ewska", "iak")),
    (("Ade", "Olu", "Oke", "Aba", "Ogun", "Eze", "Nwa", "Ako"), ("banjo", "kunle", "feso", "chukwu", "nna", "yemi")),
    (("Chaud", "Mir", "Qur", "Sidd", "Bhat", "Raz", "Nawa", "Sul"), ("hry", "za", "eshi", "iqui", "ti", "z", "tan")),
)

#: Given names by sex, roughly in popularity order (rank sets the weight).
_GIRLS: tuple[str, ...] = (
    "Olivia", "Amelia", "Isla", "Ava", "Lily", "Freya", "Ivy", "Florence", "Mia", "Willow", "Rosie", "Sophia",
    "Isabella", "Grace", "Daisy", "Sienna", "Poppy", "Elsie", "Emily", "Ella", "Evelyn", "Phoebe", "Sofia",
    "Evie", "Charlotte", "Harper", "Millie", "Matilda", "Maya", "Sophie", "Alice", "Emilia", "Isabelle", "Ruby",
    "Aria", "Maisie", "Eliza", "Elizabeth", "Libby", "Hallie", "Esme", "Thea", "Zara", "Layla", "Nia", "Orla",
    "Aisha", "Maryam", "Fatima", "Zainab", "Hafsa", "Amira", "Aaliyah", "Anaya", "Priya", "Amara", "Zuzanna",
    "Julia", "Maja", "Chloe", "Jessica", "Rebecca", "Ana", "Ann", "Anna", "Lacey", "Skye", "Tilly", "Erin",
    "Hayley", "Katie", "Megan", "Caitlin", "Leah", "Imogen", "Harriet", "Eleanor", "Beatrice", "Violet",
    "Ayesha", "Khadija", "Safiya", "Inaya", "Simran", "Adaeze", "Chiamaka", "Abena", "Oliwia", "Lena", "Mila",
)
_BOYS: tuple[str, ...] = (
    "Oliver", "George", "Noah", "Muhammad", "Arthur", "Leo", "Harry", "Oscar", "Archie", "Henry", "Theodore",
    "Freddie", "Jack", "Charlie", "Theo", "Alfie", "Jacob", "Thomas", "Finley", "Arlo", "William", "Lucas",
    "Roman", "Tommy", "Isaac", "Teddy", "Edward", "Adam", "Mohammed", "Ethan", "Joshua", "Samuel", "Max",
    "James", "Reggie", "Jude", "Hugo", "Harrison", "Sebastian", "Albie", "Elijah", "Louie", "Albert", "Mason",
    "Rory", "Jaxon", "Hunter", "Dylan", "Ezra", "Ronnie", "Kai", "Riley", "Benjamin", "Daniel", "Toby",
    "Elliot", "Jake", "Kieran", "Kyran", "Ibrahim", "Yusuf", "Omar", "Ayaan", "Aarav", "Rayyan", "Zayn", "Hamza",
    "Alfred", "Frederick", "Logan", "Jayden", "Aiden", "Reece", "Rhys", "Connor", "Callum", "Tyler", "Kacper",
    "Jakub", "Filip", "Chidi", "Kwame", "Tobenna", "Idris", "Bilal", "Arjun", "Dev", "Stanley", "Felix", "Ellis",
)
_WOMEN: tuple[str, ...] = (
    "Sarah", "Emma", "Laura", "Gemma", "Rebecca", "Amy", "Leanne", "Kirsty", "Jessica", "Natalie", "Hannah",
    "Charlotte", "Lauren", "Stacey", "Kelly", "Rachel", "Nicola", "Victoria", "Louise", "Claire", "Danielle",
    "Jodie", "Hayley", "Katherine", "Samantha", "Zoe", "Sophie", "Michelle", "Jennifer", "Lisa", "Donna",
    "Kerry", "Sian", "Carly", "Fatima", "Nasreen", "Shazia", "Ayesha", "Parveen", "Sana", "Agnieszka",
    "Katarzyna", "Ngozi", "Funmilayo", "Abena", "Elizabeth", "Margaret", "Susan", "Amanda", "Joanne",
)
_MEN: tuple[str, ...] = (
    "David", "Daniel", "James", "Michael", "Christopher", "Matthew", "Andrew", "Mark", "Paul", "Richard",
    "Thomas", "Robert", "Craig", "Lee", "Darren", "Wayne", "Jason", "Dean", "Gareth", "Stuart", "Shaun",
    "Ryan", "Kieran", "Martin", "Neil", "Gavin", "Scott", "Steven", "Stephen", "Anthony", "Jonathan",
    "Benjamin", "Samuel", "Joseph", "William", "Imran", "Asif", "Tariq", "Mohammed", "Adeel", "Piotr",
    "Tomasz", "Emeka", "Kofi", "Nathan", "Jamie", "Carl", "Simon", "Peter", "John",
)

#: Registered given name -> forms a referrer may use instead (nicknames, short forms).
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Bill", "Billy", "Will", "Liam"), "Thomas": ("Tom", "Tommy"), "Theodore": ("Theo", "Teddy"),
    "Elizabeth": ("Libby", "Beth", "Lizzie", "Elsie"), "Amelia": ("Millie", "Milly"), "Rebecca": ("Becky", "Bex"),
    "Jacob": ("Jake",), "Sebastian": ("Seb",), "Evelyn": ("Evie",), "Muhammad": ("Mo",), "Mohammed": ("Mo",),
    "Alfred": ("Alfie", "Alf"), "Samuel": ("Sam", "Sammy"), "Benjamin": ("Ben", "Benji"), "Daniel": ("Dan", "Danny"),
    "Joshua": ("Josh",), "James": ("Jamie", "Jim"), "Charlotte": ("Lottie", "Charlie"), "Katherine": ("Kate", "Katie"),
    "Jessica": ("Jess",), "Oliver": ("Ollie",), "Frederick": ("Freddie", "Fred"), "Edward": ("Eddie", "Ted", "Teddy"),
    "Henry": ("Harry",), "Isabella": ("Bella", "Izzy"), "Matilda": ("Tilly",), "Florence": ("Flo",),
    "Victoria": ("Tori", "Vicky"), "Alexander": ("Alex",), "Christopher": ("Chris",), "Michael": ("Mike",),
    "Robert": ("Rob", "Bobby"), "Anthony": ("Tony",), "Jennifer": ("Jen", "Jenny"), "Samantha": ("Sam",),
    "Margaret": ("Maggie",), "Eleanor": ("Ellie",), "Harriet": ("Hattie",), "Jonathan": ("Jon",),
    "Matthew": ("Matt",), "Stephen": ("Steve",), "Steven": ("Steve",), "Joseph": ("Joe",),
    "Nathan": ("Nate",), "Archie": ("Archibald",), "Olivia": ("Liv",), "Susan": ("Sue",), "Hannah": ("Annie",),
}
#: Spellings that sound alike (a referrer writes what they heard).
PHONETIC: dict[str, tuple[str, ...]] = {
    "Kieran": ("Kyran", "Ciaran"), "Kyran": ("Kieran",), "Ana": ("Ann", "Anna"), "Ann": ("Anne", "Ana"),
    "Anna": ("Ana",), "Muhammad": ("Mohammed", "Mohammad"), "Mohammed": ("Muhammad", "Mohamed"),
    "Aisha": ("Ayesha",), "Ayesha": ("Aisha",), "Zara": ("Zarah",), "Leah": ("Lea", "Leia"),
    "Isabelle": ("Isobel", "Isabel"), "Jayden": ("Jaden", "Jaiden"), "Aiden": ("Aidan",), "Katie": ("Katy",),
    "Lacey": ("Lacie",), "Hayley": ("Haley",), "Stephen": ("Steven",), "Steven": ("Stephen",), "Shaun": ("Sean",),
    "Rhys": ("Reece", "Reese"), "Reece": ("Rhys",), "Caitlin": ("Kaitlyn",), "Megan": ("Meghan",),
    "Sophie": ("Sofie",), "Sofia": ("Sophia",), "Sophia": ("Sofia",), "Elliot": ("Elliott",), "Louie": ("Louis",),
    "Zayn": ("Zain",), "Ibrahim": ("Ebrahim",), "Yusuf": ("Yousef",), "Freya": ("Freyja",), "Evie": ("Evey",),
    "Maja": ("Maya",), "Maya": ("Maia",), "Jakub": ("Jacob",), "Filip": ("Philip",), "Connor": ("Conor",),
}
#: Twin pairs registered with two forms of one name: the hardest near-tie there is.
TWIN_NAME_PAIRS: tuple[tuple[str, str, Sex], ...] = (
    ("Elsie", "Libby", Sex.FEMALE), ("Millie", "Amelia", Sex.FEMALE), ("Theo", "Theodore", Sex.MALE),
    ("Tommy", "Thomas", Sex.MALE), ("Alfie", "Alfred", Sex.MALE), ("Freddie", "Frederick", Sex.MALE),
    ("Evie", "Evelyn", Sex.FEMALE), ("Ollie", "Oliver", Sex.MALE),
)

#: Postcode areas that do not exist in the UK (valid format, first letter Z).
_AREAS = ("ZA", "ZB", "ZC", "ZD", "ZF", "ZG", "ZH", "ZK", "ZL", "ZM", "ZN", "ZP", "ZR", "ZS", "ZT", "ZU", "ZW", "ZY")
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_STREET_KINDS = ("Road", "Street", "Lane", "Close", "Avenue", "Way", "Drive", "Crescent", "Terrace", "Gardens")
_TOWNS = (*sim_names.TOWNS, "Nethercombe", "Upper Synthley", "Fabricham", "Placeworth")


def _zipf_weights(names: Sequence[str], offset: float) -> list[float]:
    return [1.0 / (rank + offset) for rank in range(len(names))]


class _Pool:
    """A weighted pool drawn by bisecting cumulative weights (one ``random()`` per draw)."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, items: Sequence[str], weights: Sequence[float]) -> None:
        self.items = tuple(items)
        self.cum = list(accumulate(weights))
        self.total = self.cum[-1]

    def draw(self, rng: random.Random) -> str:
        return self.items[bisect(self.cum, rng.random() * self.total)]


def _surname_pool() -> _Pool:
    head = [n for n, _ in _SURNAME_HEAD]
    head_w = [float(w) for _, w in _SURNAME_HEAD]
    tail = [p + m + s for m in ("", "en", "er", "s", "ing") for p in _TAIL_PREFIXES for s in _TAIL_SUFFIXES]
    for prefixes, suffixes in _TAIL_OTHER:
        tail += [p + s for p in prefixes for s in suffixes]
    seen = set(head)
    tail = [t for t in dict.fromkeys(tail) if t not in seen]
    random.Random(11).shuffle(tail)  # the tail's popularity order is arbitrary but fixed
    # Head weights are per 100,000 people (Smith ~1.2 %, as in England); the
    # syllable-built tail shares the rest with a gentle Zipf slope.
    head_total = sum(head_w)
    tail_w = _zipf_weights(tail, 400.0)
    scale = (100_000 - head_total) / sum(tail_w)
    return _Pool(head + tail, head_w + [w * scale for w in tail_w])


SURNAMES = _surname_pool()
GIRLS = _Pool(_GIRLS, _zipf_weights(_GIRLS, 6.0))
BOYS = _Pool(_BOYS, _zipf_weights(_BOYS, 6.0))
WOMEN = _Pool(_WOMEN, _zipf_weights(_WOMEN, 8.0))
MEN = _Pool(_MEN, _zipf_weights(_MEN, 8.0))

# --------------------------------------------------------------------------- NHS numbers


@lru_cache(maxsize=1)
def _valid_nhs_numbers() -> array:
    """Every valid NHS number in the 999 test range, as integers (about 909,000).

    The modulus 11 sum is built incrementally over the six free digits, so
    this takes a fraction of a second; ``nhs_check_digit`` remains the rule
    (asserted once below) and the result is cached for the process.
    """
    out = array("q")
    base = 9 * 10 + 9 * 9 + 9 * 8
    for d4 in range(10):
        s4 = base + 7 * d4
        for d5 in range(10):
            s5 = s4 + 6 * d5
            for d6 in range(10):
                s6 = s5 + 5 * d6
                for d7 in range(10):
                    s7 = s6 + 4 * d7
                    for d8 in range(10):
                        s8 = s7 + 3 * d8
                        body = ((((d4 * 10 + d5) * 10 + d6) * 10 + d7) * 10 + d8) * 10
                        for d9 in range(10):
                            check = 11 - (s8 + 2 * d9) % 11
                            if check == 11:
                                check = 0
                            if check != 10:
                                out.append(9_990_000_000 + (body + d9) * 10 + check)
    sample = str(out[12345])
    assert nhs_check_digit(sample[:9]) == int(sample[9]), "incremental modulus 11 disagrees with the schema"
    return out


class NhsAllocator:
    """Unique 999-range NHS numbers in a seeded, scattered order (an affine permutation)."""

    def __init__(self, seed: int) -> None:
        self._valid = _valid_nhs_numbers()
        self._size = len(self._valid)
        rng = random.Random(seed ^ 0x5EED)
        step = rng.randrange(100_003, self._size - 1)
        while gcd(step, self._size) != 1:
            step += 1
        self._step = step
        self._offset = rng.randrange(self._size)
        self._next = 0

    @property
    def capacity(self) -> int:
        return self._size

    def next(self) -> str | None:
        """The next unused number, or None once the 999 range is used up (~909,000 people)."""
        if self._next >= self._size:
            return None
        value = self._valid[(self._offset + self._step * self._next) % self._size]
        self._next += 1
        return str(value)


# --------------------------------------------------------------------------- population model


@dataclass(slots=True)
class Member:
    """One real person (the truth); agencies' records and referrals are views of it."""

    record_id: str
    household_id: str
    role: str  # mother, father, adult, child, unborn
    given: str
    middle: str | None
    family: str
    sex: Sex
    birth_date: date | None
    expected_birth_date: date | None = None
    previous_family: str | None = None
    history_in_index: bool = False
    nhs_number: str | None = None
    nhs_in_index: bool = False
    in_index: bool = True
    twin_of: str | None = None
    mother_id: str | None = None


@dataclass(slots=True)
class Household:
    household_id: str
    line: str
    town: str
    postcode: str
    previous_line: str | None
    previous_postcode: str | None
    previous_in_index: bool
    in_index: bool
    members: list[Member] = field(default_factory=list)

    def member(self, record_id: str) -> Member:
        for m in self.members:
            if m.record_id == record_id:
                return m
        raise KeyError(record_id)


@dataclass(frozen=True, slots=True)
class PopulationSpec:
    """What defines a population: the same spec always gives the same people."""

    seed: int = 20261207
    people: int = 20_000
    as_of: date = date(2026, 12, 1)
    whole_household_absent: float = 0.02
    member_absent: float = 0.02
    twin_absent: float = 0.12
    twin_rate: float = 0.035
    twin_nickname_pair: float = 0.3
    pregnant_rate: float = 0.04


class _Gen:
    """The household stream's state: one rng, the NHS allocator and the serials."""

    def __init__(self, spec: PopulationSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.nhs = NhsAllocator(spec.seed)
        self.person_serial = 0
        # About 12 households share a postcode unit, as in England.
        self.units = max(40, int(spec.people / 2.6 / 12))

    def record_id(self) -> str:
        self.person_serial += 1
        return f"P{self.person_serial:07d}"

    def postcode(self, unit: int | None = None) -> str:
        u = self.rng.randrange(self.units) if unit is None else unit
        # Scatter unit numbers over every area, district, sector and inward pair
        # (a bijection: the multiplier is coprime with 18 * 20 * 10 * 400).
        u = (u * 2_654_435_761) % (len(_AREAS) * 20 * 10 * 400)
        area = _AREAS[u % len(_AREAS)]
        u //= len(_AREAS)
        district = u % 20 + 1
        u //= 20
        sector = u % 10
        u //= 10
        letters = _INWARD_LETTERS
        return f"{area}{district} {sector}{letters[u // len(letters) % len(letters)]}{letters[u % len(letters)]}"

    def street(self) -> tuple[str, str]:
        rng = self.rng
        stem = rng.choice(_TAIL_PREFIXES) + rng.choice(("field", "wood", "mill", "brook", "ley", "hill", "gate"))
        return f"{rng.randrange(1, 240)} {stem} {rng.choice(_STREET_KINDS)}", rng.choice(_TOWNS)

    def birth(self, min_years: float, max_years: float) -> date:
        days = self.rng.randrange(int(min_years * 365.25), int(max_years * 365.25))
        return self.spec.as_of - timedelta(days=days)

    def nhs_for(self) -> tuple[str | None, bool]:
        """(number, held by the indexed agency): 86 % hold a number, 92 % of those are on the record.

        86 % keeps a 1,000,000-person index (about 1,040,000 people with the
        ones it never met) inside the ~909,000 valid 999-range numbers.
        """
        if self.rng.random() >= 0.86:
            return None, False
        return self.nhs.next(), self.rng.random() < 0.92

    def child_given(self, sex: Sex) -> str:
        return (GIRLS if sex is Sex.FEMALE else BOYS).draw(self.rng)

    def person(
        self, hid: str, role: str, sex: Sex, family: str, born: date, *, given: str | None = None, adult: bool,
        in_index: bool,
    ) -> Member:
        rng = self.rng
        pool = (WOMEN if sex is Sex.FEMALE else MEN) if adult else (GIRLS if sex is Sex.FEMALE else BOYS)
        first = given or pool.draw(rng)
        middle = None
        if rng.random() < 0.45:
            middle = pool.draw(rng)
            if middle == first:
                middle = None
        nhs, nhs_in_index = self.nhs_for()
        return Member(
            record_id=self.record_id(), household_id=hid, role=role, given=first, middle=middle, family=family,
            sex=sex, birth_date=born, nhs_number=nhs, nhs_in_index=nhs_in_index, in_index=in_index,
        )

    def household(self, number: int) -> Household:
        rng = self.rng
        spec = self.spec
        hid = f"H{number:07d}"
        line, town = self.street()
        moved = rng.random() < 0.3
        prev_line = self.street()[0] if moved else None
        prev_pc = self.postcode() if moved else None
        hh_in_index = rng.random() >= spec.whole_household_absent
        house = Household(
            hid, line, town, self.postcode(), prev_line, prev_pc, moved and rng.random() < 0.5, hh_in_index,
        )

        def present() -> bool:
            return hh_in_index and rng.random() >= spec.member_absent

        kind = rng.random()
        surname = SURNAMES.draw(rng)
        if kind < 0.22:  # one adult living alone
            sex = rng.choice((Sex.FEMALE, Sex.MALE))
            house.members.append(self.person(hid, "adult", sex, surname, self.birth(18, 80), adult=True,
                                             in_index=present()))
            return house
        if kind < 0.40:  # couple, no children at home
            a = self.birth(20, 75)
            house.members.append(self.person(hid, "adult", Sex.MALE, surname, a, adult=True, in_index=present()))
            wife = self.person(hid, "adult", Sex.FEMALE, surname, a + timedelta(days=rng.randrange(-2500, 2500)),
                               adult=True, in_index=present())
            self._maybe_maiden(wife)
            house.members.append(wife)
            return house
        # a family with children: couple (62 %) or single parent
        mother_born = self.birth(19, 46)
        couple = kind < 0.40 + 0.60 * 0.62
        father_surname = surname
        mother_surname = surname if (couple and rng.random() < 0.6) else SURNAMES.draw(rng)
        mother = self.person(hid, "mother", Sex.FEMALE, mother_surname, mother_born, adult=True, in_index=present())
        if couple and mother_surname == father_surname:
            self._maybe_maiden(mother)
        house.members.append(mother)
        if couple:
            father = self.person(hid, "father", Sex.MALE, father_surname,
                                 mother_born + timedelta(days=rng.randrange(-1500, 3000)), adult=True,
                                 in_index=present())
            house.members.append(father)
        child_surname = father_surname if couple and rng.random() < 0.8 else mother_surname
        if couple and mother_surname != father_surname and rng.random() < 0.1:
            child_surname = f"{mother_surname}-{father_surname}"  # double-barrelled
        mother_age = (spec.as_of - mother_born).days / 365.25
        n_children = rng.choices((1, 2, 3, 4, 5), (38, 36, 17, 7, 2))[0]
        oldest = max(0.0, min(17.9, mother_age - 17))
        for _ in range(n_children):
            if oldest <= 0.1:
                break
            born = self.birth(0.05, oldest)
            sex = rng.choice((Sex.FEMALE, Sex.MALE))
            if rng.random() < spec.twin_rate:
                self._twins(house, born, child_surname, present)
                continue
            child = self.person(hid, "child", sex, child_surname, born, adult=False, in_index=present())
            if rng.random() < 0.04:  # took a step-parent's or the other parent's surname
                child.previous_family = SURNAMES.draw(rng)
                child.history_in_index = rng.random() < 0.5
            house.members.append(child)
        if mother_age < 44 and rng.random() < spec.pregnant_rate:
            edd = spec.as_of + timedelta(days=rng.randrange(7, 260))
            unborn = Member(
                record_id=self.record_id(), household_id=hid, role="unborn", given="", middle=None,
                family=child_surname, sex=Sex.UNKNOWN, birth_date=None, expected_birth_date=edd,
                in_index=hh_in_index and mother.in_index, mother_id=mother.record_id,
            )
            house.members.append(unborn)
        return house

    def _maybe_maiden(self, woman: Member) -> None:
        woman.previous_family = SURNAMES.draw(self.rng)
        if woman.previous_family == woman.family:
            woman.previous_family = None
            return
        woman.history_in_index = self.rng.random() < 0.5

    def _twins(self, house: Household, born: date, surname: str, present: Callable[[], bool]) -> None:
        rng = self.rng
        if rng.random() < self.spec.twin_nickname_pair:
            g1, g2, sex = rng.choice(TWIN_NAME_PAIRS)
            sexes = (sex, sex)
        else:
            sexes = (rng.choice((Sex.FEMALE, Sex.MALE)), rng.choice((Sex.FEMALE, Sex.MALE)))
            g1 = self.child_given(sexes[0])
            g2 = self.child_given(sexes[1])
            while g2 == g1:
                g2 = self.child_given(sexes[1])
        first = self.person(house.household_id, "child", sexes[0], surname, born, given=g1, adult=False,
                            in_index=present())
        second = self.person(house.household_id, "child", sexes[1], surname, born, given=g2, adult=False,
                             in_index=present())
        if first.in_index and second.in_index and rng.random() < self.spec.twin_absent:
            second.in_index = False  # the twin the agency never met
        first.twin_of, second.twin_of = second.record_id, first.record_id
        house.members += [first, second]


def iter_households(spec: PopulationSpec) -> Iterator[Household]:
    """The population as a stream of households, until ``spec.people`` people are in the index.

    The stream is a pure function of the spec; reading it twice gives the
    same households with the same record ids.
    """
    gen = _Gen(spec)
    indexed = 0
    number = 0
    while indexed < spec.people:
        number += 1
        house = gen.household(number)
        indexed += sum(1 for m in house.members if m.in_index)
        yield house


# --------------------------------------------------------------------------- canonical views


def _address(line: str | None, town: str | None, postcode: str | None, kind: str = "home") -> dict:
    out: dict = {"type": kind}
    if line:
        out["lines"] = [line]
    if town:
        out["town"] = town
    if postcode:
        out["postcode"] = postcode
    return out


def index_person(member: Member, house: Household) -> Person:
    """The indexed agency's record of a member: current name (and sometimes the old one), address, NHS number."""
    if member.role == "unborn":
        return Person.model_validate({
            "person_id": member.record_id,
            "names": [{"family": member.family}],
            "unborn": True,
            "expected_birth_date": member.expected_birth_date,
            "mother_person_id": member.mother_id,
            "addresses": [_address(house.line, house.town, house.postcode)],
        })
    given = [member.given, member.middle] if member.middle else [member.given]
    names = [{"given": given, "family": member.family}]
    if member.previous_family and member.history_in_index:
        names.append({"use": "maiden" if member.role != "child" else "previous", "given": given,
                      "family": member.previous_family})
    addresses = [_address(house.line, house.town, house.postcode)]
    if house.previous_postcode and house.previous_in_index:
        addresses.append(_address(house.previous_line, house.town, house.previous_postcode, "previous"))
    data: dict = {
        "person_id": member.record_id,
        "names": names,
        "birth_date": {"value": member.birth_date},
        "sex": member.sex.value,
        "addresses": addresses,
    }
    if member.nhs_number and member.nhs_in_index:
        data["identifiers"] = [{"system": "nhs_number", "value": member.nhs_number}]
    return Person.model_validate(data)


def index_records(spec: PopulationSpec) -> Iterator[tuple[str, Person]]:
    """``(record_id, Person)`` for every indexed person, streamed (what ``MatchIndex.add_many`` takes)."""
    for house in iter_households(spec):
        if not house.in_index:
            continue
        for member in house.members:
            if member.in_index:
                yield member.record_id, index_person(member, house)


# --------------------------------------------------------------------------- subjects


@dataclass(frozen=True, slots=True)
class Subject:
    """A referral subject, what is true about it, and how it was corrupted."""

    subject_id: str
    person: Person
    mother: Person | None
    true_record_id: str | None
    kind: str
    corruptions: tuple[str, ...]
    source_id: str = ""  # the synthetic person's record id, indexed or not (for diagnostics and tests)
    #: The referral's other people (its household, as the referrer lists and writes them); the
    #: connector hands these to the matcher beside the subject (``MatchIndex.search(others=...)``).
    others: tuple[Person, ...] = ()

    @property
    def is_member(self) -> bool:
        return self.true_record_id is not None


#: Share of subjects per kind; the ``nonmember_*`` kinds (20 %) have no record in the index.
SUBJECT_MIX: dict[str, float] = {
    "member_child": 0.63,
    "member_adult": 0.06,
    "member_twin": 0.06,
    "member_unborn": 0.05,
    "nonmember_twin": 0.05,
    "nonmember_sibling": 0.05,
    "nonmember_parent": 0.03,
    "nonmember_household": 0.07,
}


def _kinds_of(house: Household) -> list[tuple[str, Member]]:
    """Which subject kinds each member of a household could stand for."""
    out: list[tuple[str, Member]] = []
    by_id = {m.record_id: m for m in house.members}
    for m in house.members:
        if house.in_index and m.in_index:
            if m.role == "unborn":
                mother = by_id.get(m.mother_id or "")
                if mother is not None and mother.in_index:
                    out.append(("member_unborn", m))
            elif m.role == "child":
                twin = by_id.get(m.twin_of or "")
                if twin is not None and twin.in_index:
                    out.append(("member_twin", m))
                else:
                    out.append(("member_child", m))
            else:
                out.append(("member_adult", m))
        elif not house.in_index:
            if m.role != "unborn":
                out.append(("nonmember_household", m))
        elif m.role == "child":
            twin = by_id.get(m.twin_of or "")
            if twin is not None and twin.in_index:
                out.append(("nonmember_twin", m))
            elif any(o.in_index and o.role == "child" for o in house.members if o is not m):
                out.append(("nonmember_sibling", m))
        elif m.role in ("mother", "father") and any(o.in_index and o.role == "child" for o in house.members):
            out.append(("nonmember_parent", m))
    return out


class _Corruptor:
    """Turns the truth about a person into what a referrer writes down."""

    def __init__(self, rng: random.Random, spec: PopulationSpec) -> None:
        self.rng = rng
        self.spec = spec
        self._pc = _Gen(PopulationSpec(seed=spec.seed ^ 0xC0FFEE, people=spec.people))
        self._pc.rng = rng

    def typo(self, text: str) -> str:
        rng = self.rng
        letters = "abcdefghijklmnopqrstuvwxyz"
        for _ in range(10):
            pos = rng.randrange(1, len(text)) if len(text) > 1 else 0
            op = rng.random()
            if op < 0.35 and len(text) > 3:
                out = text[:pos] + text[pos + 1:]  # dropped letter
            elif op < 0.6 and pos < len(text) - 1:
                out = text[:pos] + text[pos + 1] + text[pos] + text[pos + 2:]  # transposed
            elif op < 0.8:
                out = text[:pos] + rng.choice(letters) + text[pos + 1:]  # wrong letter
            else:
                out = text[:pos] + text[pos] + text[pos:]  # doubled letter
            if out.lower() != text.lower():
                return out[0].upper() + out[1:]
        return text + "e"

    def given(self, m: Member, house: Household, tags: list[str]) -> list[str]:
        r = self.rng.random()
        first = m.given
        if r < 0.10:
            if first in NICKNAMES:
                first = self.rng.choice(NICKNAMES[first])
                tags.append("given_nickname")
        elif r < 0.16:
            if first in PHONETIC:
                first = self.rng.choice(PHONETIC[first])
                tags.append("given_phonetic")
        elif r < 0.24:
            first = self.typo(first)
            tags.append("given_typo")
        if m.twin_of and first == house.member(m.twin_of).given:
            # e.g. Theodore referred to as "Theo", his twin's registered name:
            # no field left tells them apart unless a middle name or identifier does.
            tags.append("given_is_twins_name")
        out = [first]
        if m.middle and self.rng.random() < 0.3:
            out.append(m.middle)
        return out

    def family(self, m: Member, tags: list[str]) -> str:
        rng = self.rng
        r = rng.random()
        if m.previous_family and r < 0.5:
            tags.append("family_old_name_in_history" if m.history_in_index else "family_old_name")
            return m.previous_family
        if r < 0.06:
            tags.append("family_typo")
            return self.typo(m.family)
        if r < 0.10:
            if "-" in m.family:  # a double-barrelled name, given as one part of it
                tags.append("family_part_of_double")
                return rng.choice(m.family.split("-"))
            tags.append("family_hyphenated")
            other = SURNAMES.draw(rng)
            return f"{m.family}-{other}" if rng.random() < 0.5 else f"{other}-{m.family}"
        if r < 0.13:
            tags.append("family_changed")
            return SURNAMES.draw(rng)
        return m.family

    def birth_date(self, born: date, tags: list[str]) -> date | None:
        rng = self.rng
        r = rng.random()
        if r < 0.06 and born.day <= 12 and born.day != born.month:
            swapped = born.replace(day=born.month, month=born.day)
            if swapped <= self.spec.as_of:  # a baby's swapped date can fall after today
                tags.append("dob_swapped_day_month")
                return swapped
        if r < 0.11:
            for _ in range(20):
                part = rng.choice(("day", "month", "year"))
                try:
                    if part == "day":
                        digits = f"{born.day:02d}"
                        i = rng.randrange(2)
                        new = digits[:i] + str(rng.randrange(10)) + digits[i + 1:]
                        candidate = born.replace(day=int(new))
                    elif part == "month":
                        candidate = born.replace(month=int(f"{born.month:02d}"[0] + str(rng.randrange(10))))
                    else:
                        candidate = born.replace(year=born.year - born.year % 10 + rng.randrange(10))
                except ValueError:
                    continue
                if candidate != born and candidate <= self.spec.as_of:
                    tags.append("dob_one_digit")
                    return candidate
        if r > 0.985:
            tags.append("dob_missing")
            return None
        return born

    def address(self, house: Household, tags: list[str]) -> list[dict]:
        r = self.rng.random()
        if r < 0.17:
            tags.append("postcode_moved")
            line, town = self._pc.street()
            postcode = house.postcode
            while postcode in (house.postcode, house.previous_postcode):  # a move, not the same unit
                postcode = self._pc.postcode()
            return [_address(line, town, postcode)]
        if r < 0.27:
            tags.append("postcode_missing")
            return []
        if r < 0.35 and house.previous_postcode:
            tags.append("postcode_previous_in_index" if house.previous_in_index else "postcode_previous")
            return [_address(house.previous_line, house.town, house.previous_postcode)]
        return [_address(house.line, house.town, house.postcode)]

    def nhs(self, m: Member, house: Household, tags: list[str]) -> list[dict]:
        rng = self.rng
        r = rng.random()
        if r < 0.035 and m.role == "child":
            siblings = [o for o in house.members if o is not m and o.role == "child" and o.nhs_number
                        and o.in_index and o.nhs_in_index]
            if siblings:
                tags.append("nhs_sibling")
                return [{"system": "nhs_number", "value": rng.choice(siblings).nhs_number}]
        if m.nhs_number is None or r < 0.45:
            tags.append("nhs_missing")
            return []
        if r < 0.52:
            digits = list(m.nhs_number)
            i = rng.randrange(3, 10)
            digits[i] = str((int(digits[i]) + rng.randrange(1, 10)) % 10)
            tags.append("nhs_mistyped")
            return [{"system": "nhs_number", "value": "".join(digits)}]
        return [{"system": "nhs_number", "value": m.nhs_number}]

    def sex(self, m: Member, tags: list[str]) -> str | None:
        r = self.rng.random()
        if r < 0.02:
            tags.append("sex_missing")
            return None
        return m.sex.value

    def referral(self, subject_id: str, m: Member, house: Household, tags: list[str]) -> Person:
        """The member as a referrer describes them (born people)."""
        assert m.birth_date is not None
        data: dict = {
            "person_id": subject_id,
            "names": [{"given": self.given(m, house, tags), "family": self.family(m, tags)}],
            "addresses": self.address(house, tags),
            "identifiers": self.nhs(m, house, tags),
        }
        born = self.birth_date(m.birth_date, tags)
        if born is not None:
            data["birth_date"] = {"value": born}
        sex = self.sex(m, tags)
        if sex is not None:
            data["sex"] = sex
        return Person.model_validate(data)

    def unborn(self, subject_id: str, m: Member, house: Household, tags: list[str]) -> tuple[Person, Person]:
        """An unborn child: an expected date (often a few days out) and the mother as her own Person."""
        mother = house.member(m.mother_id or "")
        mother_id = f"{subject_id}-M"
        mother_tags: list[str] = []
        mother_person = self.referral(mother_id, mother, house, mother_tags)
        tags += [f"mother_{t}" for t in mother_tags]
        assert m.expected_birth_date is not None
        edd = m.expected_birth_date
        if self.rng.random() < 0.4:
            edd += timedelta(days=self.rng.randrange(-14, 15))
            tags.append("edd_shifted")
        family = m.family if self.rng.random() < 0.8 else mother_person.names[0].family
        unborn = Person.model_validate({
            "person_id": subject_id,
            "names": [{"family": family}],
            "unborn": True,
            "expected_birth_date": edd,
            "mother_person_id": mother_id,
            "addresses": mother_person.model_dump(mode="json")["addresses"],
        })
        return unborn, mother_person


#: Chance that a referral lists each other member of the subject's household. A MASH referral
#: form has a household section, but referrers do not know everyone (an absent father, a baby
#: born since, an older sibling living elsewhere): some members are left out.
REFERRAL_LISTS_MEMBER = 0.8


def _others(corruptor: _Corruptor, subject_id: str, member: Member, house: Household, kind: str,
            listed: float) -> tuple[Person, ...]:
    """The household as the referral lists it: each other born member, with the referrer's errors.

    An unborn subject's mother travels as ``mother`` already; unborn members are never listed
    (a referral names an expected baby as a subject of its own).
    """
    out: list[Person] = []
    for m in house.members:
        if m is member or m.role == "unborn" or m.birth_date is None:
            continue
        if kind == "member_unborn" and m.record_id == member.mother_id:
            continue
        if corruptor.rng.random() >= listed:
            continue
        out.append(corruptor.referral(f"{subject_id}-H{len(out) + 1}", m, house, []))
    return tuple(out)


def make_subjects(spec: PopulationSpec, count: int, *, seed: int | None = None,
                  listed: float = REFERRAL_LISTS_MEMBER) -> list[Subject]:
    """``count`` referral subjects (mix: ``SUBJECT_MIX``) drawn from one pass over the population.

    Fewer than ``count`` only when the population itself is too small to
    hold that many people of a class (members or non-members).

    Reservoir sampling per kind keeps memory to the chosen households; a
    separate rng keeps the population itself independent of the sampling.
    Each subject's referral also lists its household (``others``; each other
    member with chance ``listed``), corrupted by a corruptor with its own rng,
    so the subjects themselves are the same whatever ``listed`` is.
    """
    rng = random.Random(spec.seed * 31 + 7 if seed is None else seed)
    wanted = {kind: max(1, round(share * count)) for kind, share in SUBJECT_MIX.items()}
    wanted["member_child"] += count - sum(wanted.values())
    # A small population may hold too few of a rare kind (twins the agency
    # never met); the shortfall is made up from the commonest kind of the
    # same class, so the member / non-member split stays as designed.
    fallback = {"member": "member_child", "nonmember": "nonmember_household"}
    capacity = dict(wanted)
    for cls, kind in fallback.items():
        capacity[kind] = sum(n for k, n in wanted.items() if k.startswith(cls + "_"))
    reservoirs: dict[str, list[tuple[Member, Household]]] = {k: [] for k in wanted}
    seen = dict.fromkeys(wanted, 0)
    for house in iter_households(spec):
        for kind, member in _kinds_of(house):
            seen[kind] += 1
            bucket = reservoirs[kind]
            if len(bucket) < capacity[kind]:
                bucket.append((member, house))
            else:
                j = rng.randrange(seen[kind])
                if j < capacity[kind]:
                    bucket[j] = (member, house)
    for cls, spare in fallback.items():
        short = sum(max(0, n - len(reservoirs[k])) for k, n in wanted.items() if k.startswith(cls + "_"))
        rng.shuffle(reservoirs[spare])
        del reservoirs[spare][wanted[spare] + short:]
    chosen = [(kind, m, h) for kind, bucket in reservoirs.items() for m, h in bucket]
    chosen.sort(key=lambda t: t[1].record_id)
    rng.shuffle(chosen)
    corruptor = _Corruptor(rng, spec)
    household_corruptor = _Corruptor(random.Random((spec.seed if seed is None else seed) ^ 0x4E1B), spec)
    subjects: list[Subject] = []
    for n, (kind, member, house) in enumerate(chosen, start=1):
        sid = f"S{n:06d}"
        tags: list[str] = []
        mother = None
        if kind == "member_unborn":
            person, mother = corruptor.unborn(sid, member, house, tags)
        else:
            person = corruptor.referral(sid, member, house, tags)
        truth = member.record_id if kind.startswith("member_") else None
        others = _others(household_corruptor, sid, member, house, kind, listed)
        subjects.append(Subject(sid, person, mother, truth, kind, tuple(tags), member.record_id, others))
    return subjects


# --------------------------------------------------------------------------- files for `mashlink match`


def write_files(spec: PopulationSpec, count: int, out: Path) -> dict[str, int]:
    """The population and subjects as files for ``mashlink match index build person-jsonl`` / ``match search``.

    ``index.jsonl``: one indexed Person per line (``person_id`` is the record
    id); ``subjects.jsonl``: ``{"subject": Person, "mother": Person | null,
    "others": [Person]}`` (others: the referral's household)
    per line; ``truth.jsonl``: each subject's true record id (``null`` for a
    non-member), kind and corruptions, kept apart so a matcher never sees it.
    """
    out.mkdir(parents=True, exist_ok=True)
    people = 0
    with open(out / "index.jsonl", "w", encoding="utf-8") as fh:
        for _rid, person in index_records(spec):
            fh.write(person.model_dump_json(exclude_defaults=True) + "\n")
            people += 1
    subjects = make_subjects(spec, count)
    with open(out / "subjects.jsonl", "w", encoding="utf-8") as fh, \
            open(out / "truth.jsonl", "w", encoding="utf-8") as truth:
        for s in subjects:
            fh.write(json.dumps({
                "subject": s.person.model_dump(mode="json", exclude_defaults=True),
                "mother": s.mother.model_dump(mode="json", exclude_defaults=True) if s.mother else None,
                "others": [o.model_dump(mode="json", exclude_defaults=True) for o in s.others],
            }) + "\n")
            truth.write(json.dumps({"subject_id": s.subject_id, "true_record_id": s.true_record_id,
                                    "kind": s.kind, "corruptions": list(s.corruptions)}) + "\n")
    return {"people": people, "subjects": len(subjects)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write a synthetic matching population and labelled referral subjects as JSON lines.")
    parser.add_argument("out", type=Path, help="directory for index.jsonl, subjects.jsonl and truth.jsonl")
    parser.add_argument("--people", type=int, default=20_000, help="people in the index")
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--seed", type=int, default=PopulationSpec().seed)
    args = parser.parse_args(argv)
    if args.people < 1 or args.subjects < 1:
        parser.error("--people and --subjects must be at least 1")
    counts = write_files(PopulationSpec(seed=args.seed, people=args.people), args.subjects, args.out)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
