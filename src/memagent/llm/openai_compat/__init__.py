"""Any OpenAI-compatible chat server: vLLM, SGLang, llama.cpp, Ollama, `transformers serve`.

client.py   OpenAICompatLLM: the batched `LLM` (batches via memagent.inflight), models, errors
retries.py  one request with retries: Backoff, RetryPolicy, Retry-After, max_wait, on_retry
wire.py     the wire format: base URLs, request bodies, parsing answers, servers' error texts
"""

from memagent.llm.openai_compat.client import OpenAICompatLLM
from memagent.llm.openai_compat.retries import Backoff, RetryPolicy, parse_retry_after
from memagent.llm.openai_compat.wire import EmptyCompletion, normalize_base_url, parse_choice

__all__ = [
    "Backoff",
    "EmptyCompletion",
    "OpenAICompatLLM",
    "RetryPolicy",
    "normalize_base_url",
    "parse_choice",
    "parse_retry_after",
]
