"""Name, street and school pools for the synthetic population.

Kept apart from the generator so the pools can grow without touching the
generation logic. Surnames and streets are deliberately unremarkable or
invented; nothing here describes a real person or a real address.
"""

from __future__ import annotations

GIRLS: tuple[str, ...] = (
    "Ava", "Isla", "Freya", "Poppy", "Ruby", "Esme", "Daisy", "Lacey", "Nia", "Orla",
    "Maisie", "Tilly", "Willow", "Ivy", "Erin", "Skye", "Lyla", "Elsie", "Thea", "Zara",
)
BOYS: tuple[str, ...] = (
    "Leo", "Finn", "Oscar", "Reuben", "Jude", "Ezra", "Kai", "Rory", "Mason", "Tobias",
    "Arlo", "Ronan", "Caleb", "Jasper", "Felix", "Ellis", "Harvey", "Seth", "Louie", "Ollie",
)
WOMEN: tuple[str, ...] = (
    "Gemma", "Leanne", "Kirsty", "Donna", "Stacey", "Natalie", "Kerry", "Hayley", "Jodie", "Danielle",
    "Louise", "Claire", "Rebecca", "Amy", "Sian", "Carly",
)
MEN: tuple[str, ...] = (
    "Darren", "Lee", "Craig", "Wayne", "Jason", "Dean", "Gareth", "Stuart", "Shaun", "Ryan",
    "Kieran", "Martin", "Neil", "Gavin", "Scott", "Paul",
)
SURNAMES: tuple[str, ...] = (
    "Ashdown", "Bramley", "Colborne", "Dunmore", "Eldridge", "Fairbrook", "Gadsby", "Hatherley",
    "Ingleby", "Jessop", "Kettering", "Langdale", "Marchbank", "Northcott", "Oakridge", "Pellow",
    "Quarrie", "Redfern", "Stainton", "Thursby", "Underhill", "Vosper", "Whitlock", "Yardley",
    "Allerton", "Birchall", "Cragg", "Dewhurst", "Entwistle", "Fothergill",
)
STREETS: tuple[str, ...] = (
    "Larkspur Close", "Mill Lane", "Foundry Street", "Beacon Road", "Orchard Way", "Tannery Row",
    "Kestrel Drive", "Chapel Walk", "Quarry Hill", "Weavers Court", "Canal Side", "Heron Crescent",
    "Sycamore Avenue", "Brook Terrace", "Ropewalk", "Station Approach",
)
TOWNS: tuple[str, ...] = ("Synthbridge", "Lower Fakeley", "Mockford", "Testwick")

#: Given names with a common short form; the child "known by a nickname" is drawn from here.
NICKNAMED: dict[str, str] = {
    "Alfred": "Alfie",
    "William": "Billy",
    "Frederick": "Freddie",
    "Archibald": "Archie",
    "Theodore": "Teddy",
}

#: Schools: (URN, name). URNs are six digits; these are made up.
SCHOOLS: tuple[tuple[str, str], ...] = (
    ("199001", "Larkspur Primary School"),
    ("199002", "Mockford Church of England Primary"),
    ("199003", "Synthbridge Academy"),
    ("199004", "Testwick High School"),
)

#: Longer names whose one-letter misspelling still reads as the same name (the typo family's child).
TYPO_PRONE: dict[str, str] = {
    "Maisie": "female", "Willow": "female", "Tobias": "male", "Harvey": "male", "Reuben": "male", "Jasper": "male",
}


#: Typos an agency clerk might make; applied to one agency's copy of a name.
def misspell(name: str) -> str:
    """A plausible single-edit misspelling (deterministic, never equal to the input)."""
    swaps = (("ie", "y"), ("y", "ie"), ("ll", "l"), ("ph", "f"), ("a", "e"), ("e", "a"), ("o", "a"))
    lower = name.lower()
    for old, new in swaps:
        pos = lower.find(old, 1)
        if pos > 0:
            return name[:pos] + new + name[pos + len(old):]
    return name[:-1] + ("a" if name[-1] != "a" else "e")
