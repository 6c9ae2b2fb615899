"""The words episodes are written in: statement shapes, questions, attributes, keys and values.

Each list comes in a train and a held-out half that share nothing, and every key and value drawn
belongs to one split by a hash (`split_of`), so no held-out episode repeats a trained fact.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable

from memagent.data.haystack import words
from memagent.errors import InputError

# {attr} the attribute, {key} who/what it belongs to, {value} the fact to keep.
TRAIN_SHAPES = (
    "The {attr} for {key} is {value}.",
    "{key}'s {attr} is {value}.",
    "Remember that the {attr} of {key} is {value}.",
    "Note: the {attr} for {key} is {value}.",
    "For {key}, the {attr} is {value}.",
    "In the records, the {attr} listed for {key} is {value}.",
    "It is known that {key} has the {attr} {value}.",
    "The {attr} belonging to {key} is {value}.",
    "Please keep in mind that {key} uses the {attr} {value}.",
    "According to the file, the {attr} of {key} is {value}.",
    "{value} is the {attr} for {key}.",
    "Write this down: {key} has {value} as its {attr}.",
    "The {attr} assigned to {key} was {value}.",
    "Officially, the {attr} for {key} reads {value}.",
    "A quick note says the {attr} for {key} is {value}.",
    "Everyone agrees that the {attr} of {key} is {value}.",
    "The ledger shows {value} as the {attr} of {key}.",
    "Important: {key} -> {attr}: {value}.",
    "The {attr} that goes with {key} is {value}.",
    "Today we learned that the {attr} for {key} is {value}.",
    "Hidden in plain sight, the {attr} for {key} is {value}.",
    "Among other things, the {attr} of {key} is {value}.",
    "The report confirms the {attr} of {key}: {value}.",
    "As for {key}, its {attr} is {value}.",
    "Do not forget: the {attr} for {key} equals {value}.",
    "The {attr} registered under {key} is {value}.",
    "By the way, {key} has the {attr} {value}.",
    "Our notes record {value} as {key}'s {attr}.",
    "The {attr} of {key}, for the record, is {value}.",
    "One detail matters: the {attr} for {key} is {value}.",
)
HELDOUT_SHAPES = (
    "Keep this safe: the {attr} connected to {key} is {value}.",
    "The archive lists {value} under {attr} for {key}.",
    "If anyone asks, the {attr} for {key} is {value}.",
    "Someone whispered that {key}'s {attr} is {value}.",
    "Records indicate {key} holds the {attr} {value}.",
    "Mark it: {attr} of {key} = {value}.",
)
TRAIN_QUESTIONS = (
    "What is the {attr} for {key}?",
    "What is {key}'s {attr}?",
    "Which {attr} belongs to {key}?",
    "Tell me the {attr} of {key}.",
    "What {attr} is listed for {key} in the text?",
    "Find the {attr} for {key} mentioned in the text.",
)
HELDOUT_QUESTIONS = (
    "What is the {attr} for {key} mentioned in the provided text?",
    "Can you recall the {attr} of {key}?",
)
TRAIN_MULTI_QUESTIONS = (
    "What are all the {attr}s for {key}?",
    "List every {attr} given for {key}.",
    "Which {attr}s are mentioned for {key}?",
)
HELDOUT_MULTI_QUESTIONS = ("What are all the {attr}s for {key} mentioned in the provided text?",)
PREAMBLES = (
    "",
    "",
    "Some facts are hidden in a long text. Remember the ones you are asked about.\n",
    "Read the text carefully; I will ask about one detail afterwards.\n",
    "A detail is buried somewhere in the text below.\n",
)

# (attribute, value kind); attributes are split like shapes so the held-out ones are never trained.
TRAIN_ATTRS = (
    ("secret code", "number"), ("access code", "number"), ("lucky number", "number"),
    ("serial number", "number"), ("vault combination", "number"), ("room number", "number"),
    ("booking reference", "uuid"), ("license key", "uuid"), ("tracking id", "uuid"),
    ("password", "word"), ("favorite word", "word"), ("code word", "word"),
    ("contact person", "name"), ("guardian", "name"), ("team captain", "name"),
    ("start date", "date"), ("deadline", "date"), ("anniversary", "date"),
    ("motto", "phrase"), ("favorite dish", "phrase"), ("hidden treasure", "phrase"),
)  # fmt: skip
HELDOUT_ATTRS = (
    ("pin number", "number"), ("session token", "uuid"), ("nickname", "word"),
    ("mentor", "name"), ("launch date", "date"), ("slogan", "phrase"),
)  # fmt: skip
KEY_KINDS = ("pair", "person", "project", "uuid")
FIRST = (
    "Ada", "Bruno", "Celia", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Keiko", "Luca", "Maren", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Soren", "Tamsin",
    "Umar", "Vera", "Wendell", "Xenia", "Yusuf", "Zora", "Aurelio", "Bettina", "Cyrus",
    "Dalia", "Emeric", "Fenna", "Gideon", "Halina", "Ilya", "Juno", "Kasimir", "Leona",
)  # fmt: skip
LAST = (
    "Abernathy", "Bergstrom", "Castellano", "Dvorak", "Eriksen", "Fontaine", "Galloway",
    "Halvorsen", "Iwasaki", "Jablonski", "Kowalczyk", "Lindqvist", "Marchetti", "Novak",
    "Okafor", "Pellegrini", "Quintero", "Rasmussen", "Szabo", "Takahashi", "Underwood",
    "Varga", "Whitfield", "Yilmaz", "Zielinski", "Ashdown", "Brennan", "Correia", "Delacroix",
)  # fmt: skip
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def split_of(item: str) -> str:
    """Every key and value belongs to one split, by hash: one in five is held out."""
    digest = hashlib.blake2b(item.casefold().encode("utf-8"), digest_size=2).digest()
    return "heldout" if int.from_bytes(digest, "big") % 5 == 0 else "train"


def draw(make: Callable[[], str], split: str, taken: set[str]) -> str:
    for _ in range(10_000):
        item = make()
        if item not in taken and split_of(item) == split:
            taken.add(item)
            return item
    raise InputError("could not draw a fresh key or value: the item space is exhausted")


def make_key(kind: str, rng: random.Random) -> str:
    if kind == "pair":
        return f"{rng.choice(words('adjectives'))}-{rng.choice(words('nouns'))}"
    if kind == "person":
        return f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if kind == "project":
        return f"Project {rng.choice(words('nouns')).capitalize()}-{rng.randint(2, 99)}"
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_value(kind: str, rng: random.Random) -> str:
    if kind == "number":
        return str(rng.randint(10 ** (d := rng.randint(3, 8)), 10 ** (d + 1) - 1))
    if kind == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if kind == "word":
        return rng.choice(words("nouns"))
    if kind == "name":
        return f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if kind == "date":
        return f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(1900, 2030)}"
    adj, n1, n2 = (
        rng.choice(words("adjectives")),
        rng.choice(words("nouns")),
        rng.choice(words("nouns")),
    )
    return f"{adj} {n1} {n2}" if rng.random() < 0.5 else f"the {adj} {n1}"


def fill(template: str, **fields: str) -> str:
    """The template with its fields in place, as a sentence (capital first letter)."""
    out = code_line(template, **fields)
    return out[0].upper() + out[1:] if out else out


def code_line(template: str, **fields: str) -> str:
    """The template with its fields in place, as written (a line of code keeps its case)."""
    for name, value in fields.items():
        template = template.replace("{" + name + "}", value)
    return template



BIO_FACTS = (
    ("{name} was born in {city} in {year}.", "city"),
    ("{name} works as a {job} in {city}.", "job"),
    ("{name} owns a dog called {pet}.", "pet"),
    ("{name} plays the {instrument} every Sunday.", "instrument"),
    ("{name} moved to {city} when she was {age}.", "city"),
)
CITIES = ("Tallinn", "Porto", "Quito", "Lagos", "Hobart", "Bergen", "Cusco", "Dakar", "Graz",
          "Izmir", "Kyoto", "Lyon", "Mombasa", "Oaxaca", "Perth", "Riga", "Split", "Tromso")  # fmt: skip
JOBS = ("baker", "surveyor", "pilot", "librarian", "chemist", "carpenter", "nurse", "architect")
PETS = ("Biscuit", "Pepper", "Juniper", "Marlow", "Tofu", "Rocket", "Clementine", "Waffles")
INSTRUMENTS = ("cello", "oboe", "banjo", "harp", "trumpet", "accordion", "violin", "sitar")
BIO_QUESTIONS = {
    "city": "In which city was {name} born?",
    "job": "What does {name} work as?",
    "pet": "What is the name of {name}'s dog?",
    "instrument": "Which instrument does {name} play every Sunday?",
}


def bio_fields(rng: random.Random, name: str) -> dict[str, str]:
    return {
        "name": name,
        "city": rng.choice(CITIES),
        "year": str(rng.randint(1850, 1999)),
        "job": rng.choice(JOBS),
        "pet": rng.choice(PETS),
        "instrument": rng.choice(INSTRUMENTS),
        "age": str(rng.randint(5, 60)),
    }


