"""Small, made-up data files in the official HotpotQA and SQuAD v2 formats.

Tests and examples need QA sources, and this machine cannot download the real ones. The entities
(people, towns, rivers, publishers) are invented from word parts, so no question can be answered
from a model's memory; the structure (bridge and comparison questions, 2 gold + 8 distractor
paragraphs, supporting facts, answer spans, unanswerable questions) matches the real files.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

_FIRST = [
    "Ada",
    "Alma",
    "Bruno",
    "Cora",
    "Dario",
    "Edda",
    "Elias",
    "Fenna",
    "Gideon",
    "Hanna",
    "Ivo",
    "Jora",
    "Kasimir",
    "Lena",
    "Milo",
    "Nora",
    "Oskar",
    "Petra",
    "Quentin",
    "Rosa",
    "Silas",
    "Tilde",
    "Ulric",
    "Vera",
    "Wendel",
    "Xenia",
    "Yorick",
    "Zelda",
    "Anton",
    "Greta",
]
_LAST = [
    "Albrecht",
    "Brandt",
    "Corvin",
    "Dahl",
    "Eskel",
    "Falk",
    "Gorm",
    "Holt",
    "Ingram",
    "Jessen",
    "Kell",
    "Lindqvist",
    "Morrow",
    "Nadel",
    "Ostrander",
    "Pell",
    "Quist",
    "Rahn",
    "Sollis",
    "Thorne",
    "Ulven",
    "Varga",
    "Wexler",
    "Yates",
    "Zorn",
    "Bramley",
    "Castell",
]
_SYL = [
    "al",
    "bar",
    "cor",
    "dun",
    "el",
    "fen",
    "gar",
    "hal",
    "ist",
    "kel",
    "lor",
    "mar",
    "nor",
    "ost",
    "pel",
    "quin",
    "ros",
    "sel",
    "tor",
    "ul",
    "ven",
    "wyn",
]
_END = ["ton", "bury", "ford", "mere", "wick", "stead", "holm", "by", "field", "haven"]
_NATION = [
    "Danish",
    "Welsh",
    "Dutch",
    "Austrian",
    "Norwegian",
    "Scottish",
    "Flemish",
    "Swiss",
    "Estonian",
    "Irish",
]
_JOBS = [
    "novelist",
    "painter",
    "botanist",
    "composer",
    "architect",
    "cartographer",
    "poet",
    "engineer",
]
_KINDS = ["publishing house", "record label", "shipbuilding firm", "printing press", "glassworks"]


@dataclass
class _World:
    rng: random.Random
    used: set[str]

    def _unique(self, make: object) -> str:
        while True:
            name = make()  # type: ignore[operator]
            if name not in self.used:
                self.used.add(name)
                return name

    def person(self) -> str:
        def make() -> str:
            first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
            initial = self.rng.choice("ABCDEFGHIJKLMNOPRSTW")
            return f"{first} {last}" if self.rng.random() < 0.3 else f"{first} {initial}. {last}"

        return self._unique(make)

    def any_place(self) -> str:
        """A place name that may repeat (mentions, not titles)."""
        parts = self.rng.choices(_SYL, k=self.rng.choice([2, 2, 3]))
        return ("".join(parts) + self.rng.choice(_END)).title()

    def place(self) -> str:
        return self._unique(self.any_place)

    def any_river(self) -> str:
        tails = ["", "a", "en", "ey", "ith", "wy"]
        return (self.rng.choice(_SYL) + self.rng.choice(_SYL) + self.rng.choice(tails)).title()

    def river(self) -> str:
        return self._unique(self.any_river)

    def org(self) -> str:
        kinds = ["Press", "Works", "Records", "Foundry", "Company"]
        return self._unique(lambda: f"{self.any_place()} {self.rng.choice(kinds)}")


def _person_para(w: _World, name: str, born: int, town: str) -> list[str]:
    job, nation = w.rng.choice(_JOBS), w.rng.choice(_NATION)
    return [
        f"{name} ({born} – {born + w.rng.randint(45, 90)}) was a {nation} {job} born in {town}.",
        f" {name.split()[0]} studied in {w.any_place()} and worked there for "
        f"{w.rng.randint(3, 30)} years.",
        f" The later work of {name} was collected in {w.rng.randint(2, 9)} volumes.",
    ]


def _town_para(w: _World, town: str, river: str) -> list[str]:
    return [
        f"{town} is a market town on the {river} river.",
        f" It had a population of {w.rng.randint(2000, 90000):,} at the last census.",
        f" The town is twinned with {w.any_place()}.",
    ]


def _org_para(w: _World, org: str, founder: str, year: int) -> list[str]:
    return [
        f"{org} is a {w.rng.choice(_KINDS)} founded in {year} by {founder}.",
        f" Its main office has been in {w.any_place()} since {year + w.rng.randint(5, 60)}.",
    ]


def _question(w: _World) -> tuple[str, str, str, list[tuple[str, list[str]]], list[list]]:
    """(type, question, answer, [gold paragraph A, gold paragraph B], supporting facts)."""
    kind = w.rng.randrange(4)
    person, born, town = w.person(), w.rng.randint(1780, 1960), w.place()
    p_para = (person, _person_para(w, person, born, town))
    if kind in (0, 1):
        org = w.org()
        o_para = (org, _org_para(w, org, person, born + w.rng.randint(25, 50)))
        q, a = (
            (f"In what year was the founder of {org} born?", str(born))
            if kind == 0
            else (f"In which town was the founder of {org} born?", town)
        )
        return "bridge", q, a, [o_para, p_para], [[org, 0], [person, 0]]
    if kind == 2:
        river = w.river()
        t_para = (town, _town_para(w, town, river))
        q = f"On which river lies the birthplace of {person}?"
        return "bridge", q, river, [p_para, t_para], [[person, 0], [town, 0]]
    other, other_born = w.person(), born + w.rng.choice([-1, 1]) * w.rng.randint(1, 40)
    o_para = (other, _person_para(w, other, other_born, w.any_place()))
    answer = person if born < other_born else other
    q = f"Who was born first, {person} or {other}?"
    return "comparison", q, answer, [p_para, o_para], [[person, 0], [other, 0]]


def _distractor(w: _World) -> tuple[str, list[str]]:
    kind = w.rng.randrange(3)
    if kind == 0:
        name = w.person()
        return name, _person_para(w, name, w.rng.randint(1780, 1960), w.any_place())
    if kind == 1:
        town = w.place()
        return town, _town_para(w, town, w.river())
    org = w.org()
    return org, _org_para(w, org, w.person(), w.rng.randint(1800, 1990))


def hotpotqa_records(n_questions: int = 300, seed: int = 0) -> list[dict]:
    """HotpotQA distractor-setting records: 2 gold + 8 distractor paragraphs each, shuffled."""
    w = _World(random.Random(seed), set())
    records = []
    for i in range(n_questions):
        qtype, question, answer, gold, facts = _question(w)
        context = [[t, s] for t, s in gold + [_distractor(w) for _ in range(8)]]
        w.rng.shuffle(context)
        records.append(
            {
                "_id": f"{w.rng.getrandbits(96):024x}",
                "answer": answer,
                "question": question,
                "supporting_facts": facts,
                "context": context,
                "type": qtype,
                "level": "medium",
                "index": i,
            }
        )
    return records


def squad_v2_object(n_articles: int = 600, seed: int = 0) -> dict:
    """A SQuAD v2 object: articles of town paragraphs, answerable and unanswerable questions."""
    w = _World(random.Random(seed), set())
    articles = []
    for a in range(n_articles):
        paragraphs = []
        for p in range(4):
            town, river, person = w.place(), w.any_river(), w.person()
            year = w.rng.randint(1200, 1900)
            context = (
                f"{town} lies on the {river} river. The town received its charter in {year}, "
                f"when {person} was its first reeve. Its church was rebuilt after a fire and "
                f"the market still meets on {w.rng.choice(['Mondays', 'Thursdays', 'Saturdays'])}."
            )
            qas = []
            for j, (q, ans) in enumerate(
                [
                    (f"On which river does {town} lie?", river),
                    (f"In what year did {town} receive its charter?", str(year)),
                    (f"Who was the first reeve of {town}?", person),
                ]
            ):
                qas.append(
                    {
                        "question": q,
                        "id": f"{a:03d}{p}{j}{w.rng.getrandbits(64):016x}",
                        "answers": [{"text": ans, "answer_start": context.index(ans)}],
                        "is_impossible": False,
                    }
                )
            qas.append(
                {
                    "question": f"Who was the last reeve of {town}?",
                    "id": f"{a:03d}{p}9{w.rng.getrandbits(64):016x}",
                    "answers": [],
                    "plausible_answers": [{"text": person, "answer_start": context.index(person)}],
                    "is_impossible": True,
                }
            )
            paragraphs.append({"qas": qas, "context": context})
        articles.append({"title": f"Towns_of_{w.any_place()}", "paragraphs": paragraphs})
    return {"version": "v2.0", "data": articles}


def write_hotpotqa_fixture(path: str | Path, n_questions: int = 300, seed: int = 0) -> Path:
    """Write a HotpotQA-format file (300 questions ≈ 3,000 paragraphs ≈ 200K tokens)."""
    path = Path(path)
    path.write_text(json.dumps(hotpotqa_records(n_questions, seed), ensure_ascii=False), "utf-8")
    return path


def write_squad_fixture(path: str | Path, n_articles: int = 600, seed: int = 0) -> Path:
    """Write a SQuAD v2-format file (600 articles = 2,400 paragraphs ≈ 150K tokens)."""
    path = Path(path)
    path.write_text(json.dumps(squad_v2_object(n_articles, seed), ensure_ascii=False), "utf-8")
    return path
