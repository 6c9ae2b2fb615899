"""vLLM's offline engine (`vllm.LLM.chat`) as a backend: the fast path for GPU evaluation and RL.

vLLM is an optional, GPU-only extra, imported inside the constructor so that importing memagent
never needs it. A whole `generate` batch goes to the engine in one `chat` call with one
`SamplingParams` per request (requests may differ in max_tokens and in wanting log-probs).

Every completion carries its prompt and completion token ids (free with vLLM); log-probs of the
sampled tokens are added when a request asks (`SamplingParams(logprobs=0)`: the chosen token only).
The batch's wall time is split evenly over its requests, so summed `seconds` equal the wall time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from memagent.errors import BackendError, ModelNotFound
from memagent.types import ChatRequest, Completion, SamplingParams, Scheduling, Tokenizer

INSTALL_HINT = "vLLM is not installed: pip install 'memagent[vllm]' (GPU only)"


def sampling_kwargs(request: ChatRequest, sampling: SamplingParams) -> dict[str, Any]:
    """Keyword arguments for `vllm.SamplingParams` for one request, sampled with its own seed."""
    kwargs: dict[str, Any] = {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": request.max_tokens,
        "n": 1,
    }
    if request.seed is not None:
        kwargs["seed"] = request.seed
    if request.want_logprobs:
        kwargs["logprobs"] = 0  # 0 = only the sampled token's log-prob
    return kwargs


def chosen_logprobs(token_ids: Sequence[int], per_position: Any) -> list[float]:
    """Log-prob of each sampled token from vLLM's per-position {token_id: Logprob} mappings.

    `per_position` is a list of dicts (or vLLM's list-like FlatLogprobs); indexed, not iterated,
    so both work.
    """
    if per_position is None or len(per_position) < len(token_ids):
        raise BackendError("vLLM returned fewer log-probs than tokens; was logprobs requested?")
    return [float(per_position[i][tid].logprob) for i, tid in enumerate(token_ids)]


def completion_from_output(output: Any, seconds: float, want_logprobs: bool) -> Completion:
    """Turn one vLLM `RequestOutput` (first sample) into a Completion."""
    if not output.outputs:
        raise BackendError(f"vLLM returned no output for request {output.request_id}")
    sample = output.outputs[0]
    prompt_ids = list(output.prompt_token_ids or [])
    completion_ids = list(sample.token_ids)
    return Completion(
        text=sample.text,
        prompt_tokens=len(prompt_ids),
        completion_tokens=len(completion_ids),
        finish_reason="length" if sample.finish_reason == "length" else "stop",
        seconds=seconds,
        prompt_token_ids=prompt_ids,
        completion_token_ids=completion_ids,
        logprobs=chosen_logprobs(completion_ids, sample.logprobs) if want_logprobs else None,
    )


class VLLMOfflineLLM:
    """A batched `LLM` over an in-process vLLM engine.

    model: a local model directory (or a name vLLM can resolve on its own).
    gpu_memory_utilization, max_model_len, dtype, seed: passed to `vllm.LLM`.
    tokenizer: the model's tokenizer for budgets and chunking (`load_llm` passes the model's own).
    engine_kwargs: any other `vllm.LLM` argument (tensor_parallel_size, enforce_eager, ...).
    """

    profile: str | None = None  # the profile its model runs under by default (set by load_llm)

    def __init__(
        self,
        model: str,
        *,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        dtype: str = "auto",
        seed: int = 0,
        engine_kwargs: dict[str, Any] | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise BackendError(INSTALL_HINT) from exc
        self._vllm = vllm
        self.name = f"vllm:{model}"
        self.tokenizer = tokenizer
        self.scheduling: Scheduling = "rounds"  # the engine batches a whole round in one call
        self.max_concurrency: int | None = None
        self.dtype = dtype
        try:
            self.engine = vllm.LLM(
                model=model,
                gpu_memory_utilization=gpu_memory_utilization,
                max_model_len=max_model_len,
                dtype=dtype,
                seed=seed,
                **(engine_kwargs or {}),
            )
        except OSError as exc:  # missing directory / files, unknown hub name offline
            raise ModelNotFound(f"vLLM could not load model {model!r}: {exc}") from exc
        except (ValueError, RuntimeError) as exc:  # no GPU, not enough memory, bad config
            raise BackendError(f"vLLM could not start on {model!r}: {exc}") from exc

    def resolve_model(self) -> str:
        return self.name

    def cancel_pending(self) -> None:
        """Nothing to cancel: `generate` returns only when the engine is done."""

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        """One engine call for the whole batch; results in request order."""
        if not requests:
            return []
        params = [self._vllm.SamplingParams(**sampling_kwargs(r, sampling)) for r in requests]
        conversations = [[dict(m) for m in r.messages] for r in requests]
        started = time.perf_counter()
        try:
            outputs = self.engine.chat(conversations, sampling_params=params, use_tqdm=False)
        except (ValueError, RuntimeError) as exc:  # e.g. a prompt longer than max_model_len
            raise BackendError(f"{self.name} failed on a batch of {len(requests)}: {exc}") from exc
        share = (time.perf_counter() - started) / len(requests)
        if len(outputs) != len(requests):
            raise BackendError(f"{self.name} returned {len(outputs)} outputs "
                               f"for {len(requests)} requests")
        return [completion_from_output(o, share, r.want_logprobs)
                for o, r in zip(outputs, requests, strict=True)]


__all__ = ["INSTALL_HINT", "VLLMOfflineLLM", "chosen_logprobs", "completion_from_output",
           "sampling_kwargs"]
