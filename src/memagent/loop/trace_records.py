"""A trace's lines, checked: what each record must hold, and the chain of digests over them.

`check_record` validates one line (a header, step or final record with the fields and field types
of its type); anything else is an InputError naming the file and line.

The chain (trace version 3 on): every step and final record carries `digest`, the first 16 hex
digits of SHA-256 over the previous record's digest and this record (its canonical JSON: sorted
keys, without `digest` and without `seconds`, a timing). An edit of a memory, an index, a chunk
hash or an answer after the trace was written breaks the chain at that line, and `--resume`
refuses the trace there (`check_link`: one line naming file and line) instead of resuming from a
memory the run never had. Records of older traces (versions 1 and 2) carry no digest: they resume
as before, with a warning that an edit cannot be detected (`open_trace`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from memagent.answer import AnswerRule
from memagent.errors import InputError
from memagent.loop.job import Step

VERSION = 3  # 3: step and final records carry digests; 2: the document's fingerprint
READABLE_VERSIONS = (1, 2, 3)
DIGEST_FROM = 3  # the first trace version whose step and final records carry digests
_UNCHAINED = ("digest", "seconds")


_JSON_TYPES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
               list: "an array", dict: "an object", type(None): "null"}
_STEP_FIELDS = {f.name: f for f in fields(Step)}
_STEP_TYPES: dict[str, tuple[type, ...]] = {
    "index": (int,), "kind": (str,), "chunk_tokens": (int,), "prompt_tokens": (int,),
    "completion_tokens": (int,), "memory": (str,), "memory_tokens": (int,),
    "memory_cut": (bool,), "finish_reason": (str,), "seconds": (int, float),
    "chunk_sha": (str,), "output": (str,), "kept": (bool,), "digest": (str,),
}
_FINAL_TYPES: dict[str, tuple[type, ...]] = {
    "answer": (str, type(None)), "rule": (str,), "document_tokens": (int,), "usage": (dict,),
}
_FINAL_OPTIONAL: dict[str, tuple[type, ...]] = {"digest": (str,)}


def _is(value: Any, types: tuple[type, ...]) -> bool:
    # JSON true/false are Python bools, which are ints too: an int field takes no boolean
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def check_record(path: Path, lineno: int, line: str) -> dict[str, Any]:
    """One trace line, checked: a header, step or final record with the fields it needs."""
    where = f"{path}:{lineno}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not a memagent trace line ({exc})") from exc
    if not isinstance(record, dict):
        raise InputError(
            f"{where}: not a memagent trace record ({_json_type(record)} where an object belongs)"
        )
    kind = record.get("type")
    if kind == "header":
        if record.get("version") in READABLE_VERSIONS:  # other versions: open_trace refuses them
            _check_fingerprint(where, record.get("document"))
        return record
    if kind == "step":
        body = {k: v for k, v in record.items() if k != "type"}
        required = {n for n, f in _STEP_FIELDS.items() if f.default is MISSING}
        missing = sorted(required - body.keys())
        extra = sorted(body.keys() - _STEP_FIELDS.keys() - {"digest"})
        if missing or extra:
            what = [f"lacks {', '.join(missing)}"] if missing else []
            what += [f"has unknown field(s) {', '.join(extra)}"] if extra else []
            raise InputError(f"{where}: step record {' and '.join(what)}")
        _check_types(where, "step", body, _STEP_TYPES)
        if body["kind"] not in ("memory", "final"):
            raise InputError(f"{where}: step kind {short(body['kind'])} is not memory or final")
        if body["index"] < 0:
            raise InputError(f"{where}: step index {body['index']} is negative")
        return record
    if kind == "final":
        missing = sorted(_FINAL_TYPES.keys() - record.keys())
        if missing:
            raise InputError(f"{where}: final record lacks {', '.join(missing)}")
        _check_types(where, "final", record, {**_FINAL_TYPES, **_FINAL_OPTIONAL})
        if record["rule"] not in {r.value for r in AnswerRule}:
            raise InputError(f"{where}: unknown answer rule {short(record['rule'])}")
        usage = record["usage"]
        for key in ("prompt_tokens", "completion_tokens"):
            if not _is(usage.get(key), (int,)):
                raise InputError(f"{where}: final usage.{key} must be an integer")
        _check_fingerprint(where, record.get("document"))
        return record
    problem = "no record type" if kind is None else f"unknown record type {short(kind)}"
    raise InputError(f"{where}: {problem} (not a memagent trace line)")


def _check_types(
    where: str, what: str, record: dict[str, Any], types: dict[str, tuple[type, ...]]
) -> None:
    for key, allowed in types.items():
        if key in record and not _is(record[key], allowed):
            raise InputError(
                f"{where}: {what} field {key} is {_json_type(record[key])}, not "
                f"{' or '.join(_JSON_TYPES.get(t, t.__name__) for t in allowed)}"
            )


def _check_fingerprint(where: str, value: Any) -> None:
    if value is None:
        return
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("sha256"), str)
        or not _is(value.get("bytes"), (int,))
    ):
        raise InputError(f"{where}: document fingerprint is not {{sha256: string, bytes: integer}}")


def short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def link(previous: str, record: dict[str, Any]) -> str:
    """The digest of `record` (as read back from JSON, with its type) after `previous`."""
    body = {k: v for k, v in record.items() if k not in _UNCHAINED}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{previous}\n{text}".encode("utf-8", "surrogatepass")).hexdigest()[:16]


def chained(previous: str, record: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """`record` with its digest after `previous` (computed over its JSON round trip, exactly as
    a reader will see it), and that digest. A header starts the chain and carries none."""
    seen = json.loads(json.dumps(record, ensure_ascii=False))
    if record.get("type") == "header":
        return record, ""
    digest = link(previous, seen)
    return {**record, "digest": digest}, digest


def check_link(path: Path, lineno: int, previous: str | None, kind: str,
               record: dict[str, Any]) -> str | None:
    """Check (and drop) a step or final record's digest against the chain so far; returns the
    chain's new end. `previous` None: a trace older than DIGEST_FROM, nothing to check."""
    digest = record.pop("digest", None)
    if previous is None:
        return None
    where = f"{path}:{lineno}"
    if digest is None:
        raise InputError(
            f"{where}: {kind} record lacks its digest (a version-{DIGEST_FROM} trace chains every "
            "record): the trace was edited; use a new --trace path"
        )
    if digest != link(previous, {"type": kind, **record}):
        raise InputError(
            f"{where}: {kind} record does not match its digest: the trace was edited after it was "
            "written (a memory, index or answer changed); use a new --trace path"
        )
    return str(digest)


def chain_end(prefix: bytes) -> str | None:
    """Where the chain of a trace's first bytes (complete lines, already checked) ends: the last
    record's digest, "" after the header alone, None for a trace older than DIGEST_FROM."""
    lines = prefix.decode("utf-8", "surrogateescape").splitlines()
    if not lines or json.loads(lines[0]).get("version", 0) < DIGEST_FROM:
        return None
    last = json.loads(lines[-1])
    return str(last.get("digest", "")) if len(lines) > 1 else ""
