"""Name comparison for cross-agency matching: normalisation, Jaro–Winkler, nicknames.

Agencies write the same child's name differently: "O'Brien" and "OBRIEN",
"Zoë" and "Zoe", "Bill" in a police log and "William" on the GP record,
"Smith-Jones" at school and "Smith" at the hospital. These helpers turn names
into comparable tokens and score how alike two tokens are. They are pure and
symmetric (``similarity(a, b) == similarity(b, a)``) so that the hub's answer
never depends on which agency's record is compared first.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

_NON_LETTERS = re.compile(r"[^a-z\s-]")
_SEPARATORS = re.compile(r"[\s-]+")

#: Groups of given names that people use interchangeably. Deliberately small and
#: conservative: a wrong entry here merges two different children, a missing one
#: only sends a record to a person as a candidate. A name may sit in several
#: groups ("sam" is Samuel and Samantha; "charlie" is Charles and Charlotte).
_NICKNAME_GROUP_TEXT: tuple[str, ...] = (
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
NICKNAME_GROUPS: tuple[frozenset[str], ...] = tuple(frozenset(group.split()) for group in _NICKNAME_GROUP_TEXT)


def _nickname_index(groups: Iterable[frozenset[str]]) -> dict[str, frozenset[int]]:
    index: dict[str, set[int]] = {}
    for number, group in enumerate(groups):
        for name in group:
            index.setdefault(name, set()).add(number)
    return {name: frozenset(numbers) for name, numbers in index.items()}


_NICKNAMES = _nickname_index(NICKNAME_GROUPS)


#: Names repeat across a population (a few thousand distinct values cover most people), so the pure
#: per-name steps are memoised: building a million-person index normalises each value once.
_NAME_CACHE = 1 << 16


@functools.lru_cache(maxsize=_NAME_CACHE)
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


# --------------------------------------------------------------------------- extended evidence
#
# The probabilistic scorer (:mod:`mashlink.matching.comparisons`) uses a larger
# nickname table, spelling variants, a phonetic key and a graded similarity.
# ``are_nicknames`` above keeps the original, smaller table on purpose: the
# pairwise rules in :mod:`mashlink.matching.rules` treat a nickname as near
# certain, so widening *their* table would widen the twin risk (Elsie/Libby).
# The scorer treats a nickname as evidence that never auto-matches by itself.

#: More diminutives and short forms in common English use. Every group's first
#: name is the formal one; any two names of a group count as nickname agreement.
_EXTRA_NICKNAME_GROUP_TEXT: tuple[str, ...] = (
        "muhammad mohammed mohammad mohamed muhammed mo moe",
        "jacob jake jakey jay",
        "sebastian seb sebby bas",
        "evelyn evie eve evvie lyn",
        "theodore teddy ted ned",
        "rebecca bex becks",
        "elizabeth betsy bette elspeth lisa liza lilibet tetty",
        "amelia amy mia",
        "isabel isobel izzy bella issy belle",
        "isabella bella izzy",
        "annabelle anabel annabel bella belle annie",
        "anne ann anna annie nan nancy",
        "hannah annie hanna",
        "mary molly polly mae may",
        "margaret daisy maisie greta rita",
        "sarah sally sadie",
        "catherine kay katy cat",
        "eleanor nora norah ella",
        "ellen nell nellie ellie",
        "helen nell nellie",
        "gabriella gabrielle gabby gabi ella",
        "daniella danielle dani",
        "josephine jo josie jojo",
        "joanne jo joanna",
        "jacqueline jackie jacqui",
        "georgina georgie gina",
        "georgia georgie",
        "george georgie",
        "louise lou lulu",
        "louis lou louie",
        "lewis lew louie",
        "lucy lucie lu",
        "lucas luke luca",
        "penelope penny poppy",
        "phoebe phebe",
        "philip phillip phil pip",
        "matilda tilly tillie mattie",
        "natalie nat tally",
        "natasha tash tasha",
        "nicola nicky nikki",
        "pamela pam",
        "patricia pat patty trish tricia",
        "ronald ron ronnie",
        "roland ron ronnie",
        "raymond ray",
        "reginald reg reggie",
        "timothy tim timmy",
        "terence terry",
        "thomas thom tomos",
        "valerie val",
        "vincent vince vinnie",
        "walter walt wally",
        "kenneth ken kenny",
        "leonard len lenny leo",
        "leon leo",
        "lawrence laurence larry laurie",
        "dominic dom",
        "donald don donnie",
        "douglas doug dougie",
        "francis frank frankie fran",
        "frances fran frankie fanny",
        "gerald gerry jerry",
        "gregory greg",
        "harrison harry",
        "harold harry hal",
        "jonathan jon jonny johnny nathan",
        "joel joe",
        "jordan jordy",
        "kimberley kimberly kim",
        "madeleine madeline maddie maddy",
        "madison maddie maddy",
        "mathilda tilly",
        "megan meg meggie",
        "melissa mel missy",
        "melanie mel",
        "miriam mimi",
        "mitchell mitch",
        "montgomery monty",
        "mortimer morty",
        "oscar ozzy ossie",
        "oswald ozzy",
        "percival percy",
        "peter pete",
        "rachel rach",
        "rosemary rosie rose",
        "rosalind rosie ros",
        "samuel sami",
        "simon si",
        "sophia sophie soph",
        "stanley stan",
        "sidney sydney sid",
        "toby tobias",
        "vanessa nessa ness",
        "veronica ronnie",
        "victor vic",
        "wilfred wilf alfie",
        "winifred winnie",
        "zachariah zach zak zac",
        "zachary zak zac",
        "abraham abe",
        "adam ad",
        "adrian ade",
        "albert al bert bertie",
        "alan allan allen al",
        "alice ally allie",
        "alison allison ali ally",
        "amanda mandy manda",
        "angela angie",
        "antonia toni",
        "arthur art artie",
        "augustus gus",
        "barbara barbie babs",
        "bartholomew bart",
        "bernard bernie",
        "bradley brad",
        "cameron cam",
        "caroline carrie caz",
        "cassandra cass cassie",
        "cecilia cece cissy",
        "clarissa clara",
        "clifford cliff",
        "cornelius neil",
        "cynthia cindy",
        "deborah debbie deb",
        "dorothy dot dottie dolly",
        "edmund ed eddie ned",
        "edwin ed eddie",
        "eugene gene",
        "ezekiel zeke",
        "gabrielle gaby",
        "geoffrey jeffrey geoff jeff",
        "gilbert gil",
        "gwendolyn gwen",
        "imogen immy",
        "jasmine jas jazz",
        "jennifer jenna",
        "jemima mima jem",
        "jeremy jez jem",
        "julian jules",
        "juliet jules julie",
        "katrina kat trina",
        "kieran kie",
        "lauren laurie",
        "leonora nora",
        "lillian lily lilly",
        "lydia liddy",
        "mackenzie kenzie",
        "marcus marc mark",
        "martin marty",
        "maximilian maxi",
        "mildred millie",
        "nathaniel nathan",
        "norman norm",
        "ophelia phee",
        "priscilla cilla",
        "rupert rupe",
        "russell russ",
        "solomon sol",
        "susannah suzanne susie sue",
        "tabitha tabby",
        "theresa teresa tess tessa terri",
        "ursula ursie",
        "wesley wes",
        "wilhelmina mina willa",
        "yasmin yasmine yaz",
        "zoe zo",
        "abdullah abdul",
        "abdulrahman abdul",
        "aleksander aleksandra olek",
        "aleksandra ola",
        "alexei alexey lyosha",
        "ibrahim ibby",
        "ismail ishmael",
        "yusuf yousef yusef joseph",
        "kacper kasper",
        "jakub kuba",
        "katarzyna kasia",
        "malgorzata gosia",
        "zofia zosia",
        "christian chris",
        "christina kristina krystyna",
        "christopher topher",
        "samantha sammie",
        "nicholas nico",
        "benjamin benjy",
        "william wills",
        "frederick freddy",
        "alfred fred",
        "archibald baldie",
        "harriet harry",
        "edward eddy",
        "richard richy",
        "anthony anton",
        "stephanie steph",
        "jessica jessi",
)
EXTRA_NICKNAME_GROUPS: tuple[frozenset[str], ...] = tuple(frozenset(group.split()) for group in _EXTRA_NICKNAME_GROUP_TEXT)

#: Spellings of one name (not nicknames): twins are not given two spellings of
#: the same name, so agreement here counts like an exact agreement.
SPELLING_VARIANT_GROUPS: tuple[frozenset[str], ...] = tuple(
    frozenset(group.split())
    for group in (
        "muhammad mohammed mohammad mohamed muhammed mohamad muhamed",
        "ahmed ahmad ahmet",
        "mustafa mustapha mostafa",
        "yusuf yousef yusef yousuf",
        "aidan aiden aydan ayden",
        "jayden jaden jaiden jaydon",
        "brandon brandan",
        "caitlin kaitlyn katelyn caitlyn",
        "catherine katherine kathryn catharine",
        "stephen steven",
        "geoffrey jeffrey",
        "phillip philip",
        "isabel isobel",
        "teresa theresa",
        "zoe zoey",
        "leah lea",
        "hannah hanna",
        "sara sarah",
        "rebekah rebecca",
        "nicola nichola",
        "rhys reece reese",
        "sean shaun shawn",
        "ieuan ewan euan",
        "niamh neve",
        "siobhan shivaun",
    )
)

_ALL_NICKNAME_GROUPS = NICKNAME_GROUPS + EXTRA_NICKNAME_GROUPS
#: The formal name of each nickname group (the first name of its line): Elizabeth, not Elsie or Libby.
FORMAL_NAMES: frozenset[str] = frozenset(
    group.split()[0] for group in (*_NICKNAME_GROUP_TEXT, *_EXTRA_NICKNAME_GROUP_TEXT))
_NICKNAMES_EXTENDED = _nickname_index(_ALL_NICKNAME_GROUPS)
_VARIANTS = _nickname_index(SPELLING_VARIANT_GROUPS)


def are_two_short_forms(a: str, b: str) -> bool:
    """Nicknames of each other only through a formal name neither of them is (Elsie and Libby, both Elizabeth).

    Why it matters: parents give twins two short forms of one name, and a
    referral may carry one twin's name with the other's NHS number. Two short
    forms are never enough to link, whatever identifier agrees; a short form
    against the formal name (Libby, Elizabeth) is the ordinary nickname case.
    """
    return are_nicknames_extended(a, b) and a not in FORMAL_NAMES and b not in FORMAL_NAMES


def are_nicknames_extended(a: str, b: str) -> bool:
    """Nickname agreement over the original and the extended tables (Mo/Muhammad, Jake/Jacob, Bex/Rebecca).

    Evidence only: two registered names in one group may belong to twins
    (Elsie/Libby, Millie/Amelia), so the scorer never auto-matches on this alone.
    """
    if a == b:
        return False
    return bool(_NICKNAMES_EXTENDED.get(a, frozenset()) & _NICKNAMES_EXTENDED.get(b, frozenset()))


def are_spelling_variants(a: str, b: str) -> bool:
    """True when two different names are spellings of one name (Mohammed/Muhammad, Steven/Stephen)."""
    if a == b:
        return False
    return bool(_VARIANTS.get(a, frozenset()) & _VARIANTS.get(b, frozenset()))


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by exactly one insertion, deletion, substitution or adjacent swap.

    The typical keying slip ("Jaydne" for "Jayden", "Olivai" for "Olivia").
    """
    if a == b:
        return False
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return len(diffs) == 2 and diffs[1] == diffs[0] + 1 and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]]
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


_VOWELS = frozenset("aeiou")


@functools.lru_cache(maxsize=_NAME_CACHE)
def phonetic_key(name: str) -> str:
    """A Metaphone-style sound key for a normalised name ("kyran" and "kieran" -> "KRN").

    A compact form of Lawrence Philips' Metaphone rules tuned for British
    given and family names; pure Python, no dependency. Vowels count only at
    the start, doubled letters collapse, common silent letters and digraphs
    (KN, WR, PH, TH, SH, CH, GH, CK) are folded. Used as one comparison level,
    never on its own to match.
    """
    word = "".join(ch for ch in name.lower() if "a" <= ch <= "z")
    if not word:
        return ""
    for prefix, replacement in (("kn", "n"), ("gn", "n"), ("pn", "n"), ("wr", "r"), ("ps", "s"), ("ae", "e"),
                                ("wh", "w"), ("x", "s")):
        if word.startswith(prefix):
            word = replacement + word[len(prefix):]
            break
    out: list[str] = []
    n = len(word)
    i = 0
    while i < n:
        ch = word[i]
        nxt = word[i + 1] if i + 1 < n else ""
        prev = word[i - 1] if i > 0 else ""
        if ch == prev and ch != "c":
            i += 1
            continue
        code = ""
        if ch in _VOWELS:
            code = "A" if i == 0 else ""
        elif ch == "b":
            code = "" if (prev == "m" and i == n - 1) else "B"
        elif ch == "c":
            if nxt == "h":
                code = "K" if prev == "s" else "X"
                i += 1
            elif nxt in ("i", "e", "y"):
                code = "S"
            elif nxt == "k":
                code = "K"
                i += 1
            else:
                code = "K"
        elif ch == "d":
            code = "J" if nxt == "g" and word[i + 2:i + 3] in ("e", "i", "y") else "T"
        elif ch == "g":
            if nxt == "h" and (i + 2 >= n or word[i + 2] not in _VOWELS):
                code = ""
                i += 1
            elif nxt == "n" and i + 2 >= n:
                code = ""
            elif nxt in ("i", "e", "y"):
                code = "J"
            else:
                code = "K"
        elif ch == "h":
            code = "H" if (prev not in _VOWELS or prev == "") and nxt in _VOWELS and prev not in "cgpst" else ""
        elif ch == "k":
            code = "" if prev == "c" else "K"
        elif ch == "p":
            if nxt == "h":
                code = "F"
                i += 1
            else:
                code = "P"
        elif ch == "q":
            code = "K"
        elif ch == "s":
            if nxt == "h":
                code = "X"
                i += 1
            elif nxt == "i" and word[i + 2:i + 3] in ("o", "a"):
                code = "X"
            else:
                code = "S"
        elif ch == "t":
            if nxt == "h":
                code = "0"
                i += 1
            elif nxt == "i" and word[i + 2:i + 3] in ("o", "a"):
                code = "X"
            elif nxt == "c" and word[i + 2:i + 3] == "h":
                code = ""
            else:
                code = "T"
        elif ch == "v":
            code = "F"
        elif ch == "w" or ch == "y":
            code = ch.upper() if nxt in _VOWELS and i == 0 else ""
        elif ch == "x":
            code = "KS"
        elif ch == "z":
            code = "S"
        else:
            code = ch.upper()
        if code and not (out and out[-1] == code and code != "A"):
            out.append(code)
        i += 1
    return "".join(out)


def given_name_similarity(a: str, b: str) -> float:
    """Graded similarity of two normalised given names in [0, 1], with no cliff at 0.85.

    1 for equal names, 0.98 for spellings of one name, 0.95 for nicknames,
    otherwise the larger of Jaro–Winkler and 0.88 when the names sound alike
    (Kyran/Kieran 0.88, Ana/Ann 0.88). Symmetric. The scorer turns this into
    comparison levels; the number itself is for display and ranking.
    """
    if a == b:
        return 1.0 if a else 0.0
    if not a or not b:
        return 0.0
    if are_spelling_variants(a, b):
        return 0.98
    if are_nicknames_extended(a, b):
        return 0.95
    similarity = jaro_winkler(a, b)
    if phonetic_key(a) == phonetic_key(b):
        similarity = max(similarity, 0.88)
    return round(similarity, 4)
