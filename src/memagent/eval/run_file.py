"""`run.json`, an eval directory's settings: one typed record, written by `memagent eval` and
read by the report and by `memagent report --merge`. Its one reader and writer."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
# Settings that must agree for two runs' samples to share one table.
MERGE_KEYS = ("model", "model_sha256", "budgets", "sampling", "seed")


@dataclass
class RunInfo:
    """What produced an eval directory's samples. Field order is the file's key order."""

    model: str = "?"
    model_sha256: str | None = None
    command: str | None = None  # the latest command
    tasks: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    n: int | None = None
    seed: int | None = None  # sample generation
    batch: int | None = None
    split: str | None = None
    style: str | None = None  # question texts (None: written before styles were recorded)
    budgets: dict[str, int] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None
    dtype: str | None = None
    decoding: str | None = None  # a local engine's greedy decoding: lookup | plain (None: unknown)
    commands: list[str] = field(default_factory=list)  # every command that wrote here, oldest first
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # keys of other versions

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunInfo:
        names = {f.name for f in fields(cls)} - {"extra"}
        run = cls(**{k: v for k, v in data.items() if k in names},
                  extra={k: v for k, v in data.items() if k not in names})
        if not run.commands and run.command:  # written before the history was kept
            run.commands = [run.command]
        return run

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {**data, **extra}

    @classmethod
    def read(cls, directory: Path) -> RunInfo | None:
        """The directory's run.json; None when there is none (or it is torn: a killed write)."""
        path = directory / RUN_FILE
        if not path.is_file():
            return None
        with contextlib.suppress(json.JSONDecodeError):
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        return None

    def write(self, directory: Path) -> None:
        from memagent.outputs import write_text

        write_text(directory / RUN_FILE, json.dumps(self.to_json(), indent=2), "run file")

    def add_command(self, command: str) -> None:
        """Record the command now writing here, after the earlier ones (not twice in a row)."""
        self.command = command
        if not self.commands or self.commands[-1] != command:
            self.commands.append(command)

    def differs(self, other: RunInfo) -> str | None:
        """The first setting two runs must share and do not, for a merge; None: mergeable."""
        for key in MERGE_KEYS:
            if getattr(self, key) != getattr(other, key):
                return f"{key} differs ({getattr(other, key)!r} vs {getattr(self, key)!r})"
        return None
