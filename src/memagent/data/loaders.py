"""Readers for the official HotpotQA and SQuAD v2 JSON files, from local paths only.

Where to get them (this project never downloads data sets):
  HotpotQA dev (distractor): hotpot_dev_distractor_v1.json from https://hotpotqa.github.io/
  SQuAD v2.0 dev:            dev-v2.0.json from https://rajpurkar.github.io/SQuAD-explorer/
A malformed file raises InputError naming the file and the first bad record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memagent.errors import InputError


@dataclass(frozen=True)
class QAItem:
    """A question with its own documents; `gold` indexes into `docs`."""

    id: str
    question: str
    answers: tuple[str, ...]
    docs: tuple[str, ...]  # each rendered as the paper does: "title\nsentences" (or a paragraph)
    gold: tuple[int, ...]


def _load_json(path: str | Path, what: str) -> Any:
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"{what} file {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} file {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} file {path} is not valid JSON: {exc}") from exc


def _need(cond: bool, path: str | Path, where: str, msg: str) -> None:
    if not cond:
        raise InputError(f"{path}: {where}: {msg}")


def hotpot_doc(title: str, sentences: list[str]) -> str:
    """A HotpotQA paragraph as MemAgent renders it: title line, then the joined sentences."""
    return f"{title}\n{''.join(sentences)}"


def load_hotpotqa(path: str | Path) -> list[QAItem]:
    """Questions of a HotpotQA distractor-setting file (a JSON list of question records)."""
    return _hotpot_items(_load_json(path, "HotpotQA"), path)


def _hotpot_items(data: Any, path: str | Path) -> list[QAItem]:
    _need(isinstance(data, list) and bool(data), path, "top level", "expected a non-empty list")
    items = []
    for i, rec in enumerate(data):
        where = f"record {i}"
        _need(isinstance(rec, dict), path, where, "expected an object")
        for key in ("question", "answer", "context", "supporting_facts"):
            _need(key in rec, path, where, f"missing field '{key}'")
        ctx, facts = rec["context"], rec["supporting_facts"]
        _need(isinstance(ctx, list) and bool(ctx), path, where, "'context' must be a list")
        docs, titles = [], []
        for p in ctx:
            ok = isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
            ok = ok and isinstance(p[1], list) and all(isinstance(s, str) for s in p[1])
            _need(ok, path, where, "'context' entries must be [title, [sentences]]")
            titles.append(p[0])
            docs.append(hotpot_doc(p[0], p[1]))
        ok = isinstance(facts, list) and all(isinstance(f, list) and f for f in facts)
        _need(ok, path, where, "'supporting_facts' must be a list of [title, sentence_id]")
        gold = tuple(sorted({titles.index(f[0]) for f in facts if f[0] in titles}))
        _need(bool(gold), path, where, "no supporting fact names a context title")
        answer = rec["answer"]
        _need(isinstance(answer, str) and bool(answer.strip()), path, where, "empty 'answer'")
        items.append(
            QAItem(str(rec.get("_id", i)), str(rec["question"]), (answer,), tuple(docs), gold)
        )
    return items


def load_squad(path: str | Path) -> list[QAItem]:
    """Answerable questions of a SQuAD v2 file; each question's own paragraph is its gold doc."""
    return _squad_items(_load_json(path, "SQuAD"), path)


def _squad_items(data: Any, path: str | Path) -> list[QAItem]:
    ok = isinstance(data, dict) and isinstance(data.get("data"), list)
    _need(ok, path, "top level", "expected an object with a 'data' list")
    items = []
    for a, article in enumerate(data["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        _need(isinstance(paragraphs, list), path, f"data[{a}]", "missing 'paragraphs' list")
        for p, para in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            ok = isinstance(para, dict) and isinstance(para.get("context"), str)
            ok = ok and isinstance(para.get("qas"), list)
            _need(ok, path, where, "needs 'context' and 'qas'")
            for q, qa in enumerate(para["qas"]):
                qwhere = f"{where}.qas[{q}]"
                _need(isinstance(qa, dict) and "question" in qa, path, qwhere, "missing 'question'")
                if qa.get("is_impossible", False):
                    continue
                answers = qa.get("answers")
                _need(isinstance(answers, list), path, qwhere, "missing 'answers' list")
                texts = [x["text"] for x in answers if isinstance(x, dict) and x.get("text")]
                if not texts:
                    continue
                items.append(
                    QAItem(
                        str(qa.get("id", f"{a}.{p}.{q}")),
                        str(qa["question"]),
                        tuple(dict.fromkeys(texts)),
                        (para["context"],),
                        (0,),
                    )
                )
    _need(bool(items), path, "data", "no answerable questions found")
    return items


def load_source(path: str | Path) -> list[QAItem]:
    """HotpotQA or SQuAD, recognized by shape (a list of records vs an object with 'data')."""
    data = _load_json(path, "QA source")
    if isinstance(data, list):
        return _hotpot_items(data, path)
    if isinstance(data, dict) and "data" in data:
        return _squad_items(data, path)
    raise InputError(f"{path}: neither a HotpotQA list nor a SQuAD object with 'data'")
