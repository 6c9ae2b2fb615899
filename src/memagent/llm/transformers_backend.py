"""A local Hugging Face transformers model as a batched chat backend (CPU or GPU).

Requests are rendered with the model's chat template, left-padded into one batch per
max_tokens value, and generated together. With `want_logprobs` the per-token log-probs of the
sampled tokens under the raw model (temperature 1, no top-p) are returned: that is the policy
the RL loss compares against.

With `prefix_reuse` (default) the KV cache of prompt prefixes shared across requests (chat
template + instruction + question within a job; the chunk across questions in the chunk-first
layout) is computed once and reused (prefix_cache.py); greedy outputs equal the no-reuse path.
With `lookup` (default on the CPU) replies are decoded several tokens per pass from drafts copied out of the
prompt and recent replies (lookup_decode.py): greedy's choices at every position, or, sampling,
tokens distributed exactly as plain sampling's, in a fraction of the passes. `lookup=False`:
transformers' `generate`, one token per pass.
"""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memagent.errors import BackendError, InputError, ModelNotFound
from memagent.llm.hf_tokenizer import HFTokenizer
from memagent.llm.lookup_decode import NGRAM, Greedy, Sampler, Stats, lookup_generate
from memagent.llm.padding import left_pad
from memagent.llm.prefix_cache import PrefixStore, batch_inputs
from memagent.types import ChatRequest, Completion, SamplingParams, Scheduling


def pick_device(device: str | None = None) -> str:
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class TransformersLLM:
    """Local model; load with `TransformersLLM.load(model_dir)`."""

    profile: str | None = None  # the profile its model runs under by default (set by load_llm)

    def __init__(
        self,
        model: Any,
        tokenizer: HFTokenizer,
        name: str,
        max_batch: int = 16,
        prefix_reuse: bool = True,
        lookup: bool | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.max_batch = max_batch
        self.device = next(model.parameters()).device
        pad = tokenizer.hf.pad_token_id
        self.pad_id: int = pad if pad is not None else (tokenizer.eos_token_id or 0)
        self.stop_ids = self._stop_ids()
        # KV caches of shared prompt prefixes (see prefix_cache.py); None: every prompt from scratch
        self.prefix: PrefixStore | None = PrefixStore(model) if prefix_reuse else None
        # replies drafted from the prompt and from recent replies (lookup_decode.py); None: on the
        # CPU only (not measured on a GPU)
        self.lookup = lookup if lookup is not None else self.device.type == "cpu"
        self.recent_replies: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.lookup_stats = Stats()
        self.scheduling: Scheduling = "rounds"  # one padded batch per round
        self.can_score = True  # takes ChatRequest.candidates (llm/candidates.py)
        self.max_concurrency: int | None = None
        self.dtype = str(model.dtype).removeprefix("torch.")

    def resolve_model(self) -> str:
        return self.name

    # -- the seams a trainer uses (instead of reaching into the attributes) ---------------------
    def set_model(self, model: Any) -> None:
        """Generate with `model` from now on (a trainer's LoRA-wrapped policy, say): same
        tokenizer; device, dtype and stop tokens follow it, and the prefix caches are dropped."""
        self.model = model
        self.device = next(model.parameters()).device
        self.dtype = str(model.dtype).removeprefix("torch.")
        self.stop_ids = self._stop_ids()
        self.weights_changed()

    def weights_changed(self) -> None:
        """The model's weights changed in place (an optimizer step): prompt-prefix KV caches were
        computed with the old ones, so they are dropped (the cache keeps its size limits)."""
        if self.prefix is not None:
            old = self.prefix
            self.prefix = PrefixStore(self.model, old.min_tokens, old.max_tokens,
                                      old.recent.maxlen or 64)

    def cancel_pending(self) -> None:
        """Nothing to cancel: `generate` returns only when its batch is done."""

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str | None = None,
        dtype: str | None = None,
        max_batch: int = 16,
        prefix_reuse: bool = True,
        lookup: bool | None = None,
    ) -> TransformersLLM:
        import torch
        from transformers import AutoModelForCausalLM

        path = Path(path)
        if not (path / "config.json").is_file():
            raise ModelNotFound(f"{path} is not a model directory (no config.json)")
        device = pick_device(device)
        if dtype is None:
            use_bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
            torch_dtype = torch.bfloat16 if use_bf16 else torch.float32
        elif dtype in ("float32", "bfloat16", "float16"):
            torch_dtype = getattr(torch, dtype)
        else:
            raise InputError(f"unknown dtype {dtype!r}: use float32 or bfloat16")
        # transformers' "Loading weights" bar is noise between memagent's own start-up lines
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        try:
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype)
        except (OSError, ValueError) as exc:
            raise ModelNotFound(f"could not load a causal LM from {path}: {exc}") from exc
        model.to(device).eval()
        return cls(
            model,
            HFTokenizer.from_dir(path),
            name=path.name,
            max_batch=max_batch,
            prefix_reuse=prefix_reuse,
            lookup=lookup,
        )

    def _stop_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set()
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(eos, int):
            ids.add(eos)
        elif isinstance(eos, list):
            ids.update(eos)
        return ids

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        groups: dict[tuple[int, bool], list[int]] = defaultdict(list)
        for i, req in enumerate(requests):
            if req.candidates:
                results[i] = self._score(req)
                continue
            groups[(req.max_tokens, req.want_logprobs)].append(i)
        for (max_tokens, want_logprobs), idxs in groups.items():
            for start in range(0, len(idxs), self.max_batch):
                part = idxs[start : start + self.max_batch]
                outs = self._generate_batch(
                    [requests[i] for i in part], sampling, max_tokens, want_logprobs
                )
                for i, out in zip(part, outs, strict=True):
                    results[i] = out
        return [r for r in results if r is not None]

    def _generate_batch(
        self,
        requests: Sequence[ChatRequest],
        sampling: SamplingParams,
        max_tokens: int,
        want_logprobs: bool,
    ) -> list[Completion]:
        t0 = time.perf_counter()
        prompts = [self.tokenizer.chat_ids(r.messages) for r in requests]
        kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "pad_token_id": self.pad_id}
        plan = self.prefix.plan(prompts) if self.prefix is not None else None
        if plan is not None and plan.reused_tokens:
            input_ids, attention, cache = batch_inputs(prompts, plan, self.pad_id)
            kwargs[self._cache_kwarg()] = cache
        else:
            input_ids, attention = left_pad(prompts, self.pad_id)
        try:
            if self.lookup:
                new, logprob_rows = self._lookup_batch(prompts, input_ids, attention, kwargs,
                                                       max_tokens, sampling,
                                                       [r.seed for r in requests], want_logprobs)
            else:
                new, logprob_rows = self._hf_generate(input_ids, attention, kwargs, sampling,
                                                      requests[0].seed, want_logprobs)
        except RuntimeError as exc:  # OOM and friends: say which batch, keep the cause
            raise BackendError(
                f"local generation failed for a batch of {len(prompts)}: {exc}"
            ) from exc
        per = (time.perf_counter() - t0) / len(prompts)
        completions = []
        for row, ids in enumerate(new):
            ids, finish = self._trim(ids)
            if self.lookup:
                self._remember_reply(prompts[row], ids)
            completions.append(
                Completion(
                    text=self.tokenizer.decode(ids),
                    prompt_tokens=len(prompts[row]),
                    completion_tokens=len(ids),
                    finish_reason=finish,
                    seconds=per,
                    prompt_token_ids=prompts[row],
                    completion_token_ids=ids,
                    logprobs=logprob_rows[row][: len(ids)] if logprob_rows is not None else None,
                    cached_tokens=plan.lengths[row] if plan is not None else 0,
                )
            )
        return completions

    def _hf_generate(self, input_ids: Any, attention: Any, kwargs: dict[str, Any],
                     sampling: SamplingParams, seed: int | None,
                     want_logprobs: bool) -> tuple[list[list[int]], list[list[float]] | None]:
        """transformers' `generate`: sampled replies, and any reply that needs its log-probs."""
        import torch

        width = input_ids.shape[1]
        if sampling.temperature > 0:
            kwargs.update(
                do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0
            )
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        seed = seed if sampling.temperature > 0 else None
        with torch.inference_mode(), self._seeded(seed):
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                return_dict_in_generate=True,
                output_logits=want_logprobs,
                **kwargs,
            )
        new = out.sequences[:, width:].tolist()
        logprobs = self._logprobs(out.logits, out.sequences[:, width:]) if want_logprobs else None
        return new, logprobs

    def _lookup_batch(self, prompts: list[list[int]], input_ids: Any, attention: Any,
                      kwargs: dict[str, Any], max_tokens: int, sampling: SamplingParams,
                      seeds: list[int | None], want_logprobs: bool,
                      ) -> tuple[list[list[int]], list[list[float]] | None]:
        """Replies decoded from prompt-lookup drafts (lookup_decode.py); sampled, each from its
        own request's seed (None: torch's global RNG)."""
        chooser: Greedy | Sampler = Greedy(want_logprobs)
        if sampling.temperature > 0:
            chooser = Sampler(sampling.temperature, sampling.top_p, want_logprobs)
        cache_kwarg = self._cache_kwarg()
        replies = lookup_generate(
            self.model, input_ids.to(self.device), attention.to(self.device), prompts,
            max_tokens, self.stop_ids, chooser, cache=kwargs.get(cache_kwarg),
            cache_kwarg=cache_kwarg, sources=list(self.recent_replies.values()),
            stats=self.lookup_stats, seeds=seeds,
        )
        return [r for r, _ in replies], ([lp for _, lp in replies] if want_logprobs else None)

    def _remember_reply(self, prompt: list[int], reply: list[int], keep: int = 16) -> None:
        """Keep the last `keep` distinct replies (with the prompt's last tokens before them, so
        a reply's first tokens match) as draft sources: agents repeat themselves (KEEP)."""
        entry = np.asarray([*prompt[-NGRAM:], *reply], dtype=np.int64)
        key = entry.tobytes()
        self.recent_replies[key] = entry
        self.recent_replies.move_to_end(key)
        while len(self.recent_replies) > keep:
            self.recent_replies.popitem(last=False)

    def _score(self, request: ChatRequest) -> Completion:
        """A request with candidates: their log-probabilities, no generated text."""
        from memagent.llm.candidates import score_candidates

        t0 = time.perf_counter()
        prompt = self.tokenizer.chat_ids(request.messages)
        end = [self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else []
        conts = [self.tokenizer.encode(c) + end for c in request.candidates]
        try:
            scores = score_candidates(self.model, prompt, conts, self.pad_id, self.max_batch)
        except RuntimeError as exc:
            raise BackendError(
                f"local scoring of {len(conts)} candidates failed: {exc}"
            ) from exc
        return Completion("", len(prompt), 0, "stop", time.perf_counter() - t0,
                          prompt_token_ids=prompt, scores=scores)

    def _seeded(self, seed: int | None) -> Any:
        """Sample from `seed` on a forked RNG (a batch shares one stream, so its first request's
        seed stands for it); torch's global RNG state is left as it was. None: the global RNG."""
        import contextlib

        import torch

        if seed is None:
            return contextlib.nullcontext()
        cuda = torch.device(self.device).type == "cuda"
        devices = [torch.device(self.device).index or 0] if cuda else []
        stack = contextlib.ExitStack()
        stack.enter_context(torch.random.fork_rng(devices=devices))
        torch.manual_seed(seed)
        return stack

    def _cache_kwarg(self) -> str:
        """transformers >= 5.x names generate's cache argument `cache`; 4.x `past_key_values`."""
        import inspect

        params = inspect.signature(self.model.prepare_inputs_for_generation).parameters
        return "cache" if "cache" in params else "past_key_values"

    def _trim(self, ids: list[int]) -> tuple[list[int], str]:
        """Cut at the first stop token (kept out of the text, kept in the ids for RL)."""
        for i, tok in enumerate(ids):
            if tok in self.stop_ids:
                return ids[: i + 1], "stop"
        return ids, "length"

    @staticmethod
    def _logprobs(logits: Sequence[Any], tokens: Any) -> list[list[float]]:
        import torch

        # logits: steps x [batch, vocab] raw scores; tokens: [batch, steps]
        stacked = torch.stack(list(logits), dim=1).float()  # [batch, steps, vocab]
        lp = torch.log_softmax(stacked, dim=-1)
        picked = lp.gather(-1, tokens[:, : lp.shape[1]].unsqueeze(-1)).squeeze(-1)  # [batch, steps]
        return [row.tolist() for row in picked]
