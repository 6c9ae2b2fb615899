"""The small vocabulary every layer shares: chat requests, completions, the backend protocol.

The core loop only ever talks to an `LLM` (requests in, completions out) and to a `Tokenizer`
(for budgets and chunking). Neither protocol imports a backend, torch or transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from memagent.errors import InputError

Message = dict[str, str]  # {"role": "user" | "system" | "assistant", "content": "..."}
Scheduling = Literal["rounds", "continuous"]
SEED_STRIDE = 100_003  # seeds of one job's requests never meet the next job's


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. temperature 0 means greedy decoding."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.temperature < float("inf"):  # NaN too: it fails every comparison
            raise InputError(f"temperature must be a number >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InputError(f"top_p must be in (0, 1], got {self.top_p}")

    def request_seed(self, job: int, step: int) -> int | None:
        """The seed of request `step` of job `job` in a run: the one place seeds are derived, so
        every job and step samples differently (an RL group must not collapse) yet reproducibly.
        None when the run is unseeded."""
        return None if self.seed is None else self.seed + job * SEED_STRIDE + step


@dataclass(frozen=True)
class ChatRequest:
    """One context-independent conversation turn to complete."""

    messages: tuple[Message, ...]
    max_tokens: int
    want_logprobs: bool = False  # RL rollouts need the sampling policy's per-token log-probs
    seed: int | None = None  # sample it with this seed (`SamplingParams.request_seed`); None: any
    # Non-empty: do not generate; score each of these replies under the model (memagent.selection)
    # and return their log-probabilities in Completion.scores. Only a backend whose `can_score`
    # attribute is true takes such a request.
    candidates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")


@dataclass
class Completion:
    """A backend's answer to one ChatRequest."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # "stop" | "length"
    seconds: float = 0.0  # backend time attributed to this request
    # Filled by backends that can (local models; servers that return them); RL needs all three.
    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    # A request with candidates: each candidate reply's summed log-probability (end of turn
    # included), in the request's order; None for a generated reply.
    scores: list[float] | None = None
    # Prompt tokens served from a KV cache of earlier requests instead of being computed (the
    # local backend's prefix reuse; OpenAI's usage.prompt_tokens_details.cached_tokens).
    cached_tokens: int = 0


@runtime_checkable
class Tokenizer(Protocol):
    """What the core needs from a tokenizer: exact token counts and offsets for chunking."""

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def encode_batch_offsets(
        self, texts: Sequence[str]
    ) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Token ids and (start, end) character offsets per token, no special tokens."""
        ...

    def chat_token_count(self, messages: Sequence[Message]) -> int:
        """Tokens of the prompt exactly as the model sees it (chat template + generation prompt)."""
        ...


@runtime_checkable
class LLM(Protocol):
    """A batched chat backend: everything callers use of one. Implementations: transformers,
    OpenAI-compatible HTTP, vLLM; each sets every attribute in its constructor (read-only here,
    so a backend may declare a narrower type, e.g. its own tokenizer class).

    name: the model as shown and recorded in traces (a server's without credentials).
    tokenizer: the model's tokenizer, which budgets and chunks are counted in; None only where it
        is unknown (a server's model): then `MemAgent` must be given one.
    scheduling: how `run_jobs` drives it: "rounds" (one batch per round, a request per job) or
        "continuous" (single requests, up to `max_concurrency` in flight).
    max_concurrency: requests in flight at once in continuous mode; None: the scheduler's default.
    dtype: the weights' dtype ("float32", "bfloat16", ...), or "server" for a remote model.
    An optional attribute `profile` (not part of the protocol) names the profile the model runs
    under when `MemAgent` is given no config: `load_llm` sets it for the embedded model.
    """

    name: str

    @property
    def tokenizer(self) -> Tokenizer | None: ...

    @property
    def scheduling(self) -> Scheduling: ...

    @property
    def max_concurrency(self) -> int | None: ...

    @property
    def dtype(self) -> str: ...

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]: ...

    def resolve_model(self) -> str:
        """The model the backend asks for, settled before it is recorded (a server asked without a
        model name names its single model here, and `name` follows); a local model: its name."""
        ...

    def cancel_pending(self) -> None:
        """Stop retrying and waiting on the requests in flight (a run that stops early); a no-op
        for a backend whose `generate` returns only when done."""
        ...


@dataclass
class Usage:
    """Token and time accounting, summed over requests."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    backend_seconds: float = 0.0
    cached_tokens: int = 0  # of prompt_tokens, served from a KV cache (not kept in traces)
    per_step: list[dict[str, float]] = field(default_factory=list, repr=False)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, completion: Completion) -> None:
        self.requests += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.backend_seconds += completion.seconds
        self.cached_tokens += completion.cached_tokens

    def merge(self, other: Usage) -> None:
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.backend_seconds += other.backend_seconds
        self.cached_tokens += other.cached_tokens
