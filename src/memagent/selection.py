"""Selection instead of free generation (issue 23's first lever on the find-decision).

With `PromptTemplates.decision = "select"` a memory step does not let the policy write freely: the
job lists the replies an extractive memory can give for this chunk (`candidates`) and asks the
backend for each one's log-probability under the policy, given the memory-update prompt (one
prefill of the prompt, the candidates batched on its cache: `ChatRequest.candidates`,
`Completion.scores`). The reply kept is the most probable one (`best`), so the policy still makes
the decision, but it can only choose among:

- the keep reply (`KEEP`: the memory unchanged), and
- for each sentence of the chunk (`hygiene.sentences`, line by line) that the memory does not
  already hold and that has a letter or digit (a chunk cut at a token can open on "."): the previous memory's lines, then that sentence on its own line (the trained
  reply shape, `data/episodes`), or the sentence alone when the memory is empty.

One new sentence per chunk at most; a candidate whose reply would be over the memory budget is
left out by the job. The score of a reply is the sum of its tokens' log-probabilities, the
end-of-turn token included (a reply that should go on scores lower than one that should stop).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from memagent.hygiene import normalise, sentences

DECISIONS = ("generate", "select")


def candidates(
    chunk: str,
    memory: str,
    keep_reply: str,
    fits: Callable[[str], bool] = lambda _reply: True,
) -> list[str]:
    """The replies to score for one chunk: the keep reply first, then one per new sentence of the
    chunk, in the chunk's order, each kept only when `fits(reply)` (the memory budget)."""
    held = {normalise(s) for line in memory.splitlines() for s in sentences(line)}
    out = [keep_reply]
    seen: set[str] = set()
    for line in chunk.splitlines():
        for s in sentences(line):
            if s in held or s in seen or not any(ch.isalnum() for ch in s):
                continue
            seen.add(s)
            reply = f"{memory}\n{s}" if memory else s
            if fits(reply):
                out.append(reply)
    return out


def best(scores: Sequence[float]) -> int:
    """The index of the highest score; a tie goes to the earlier candidate (the keep reply)."""
    if not scores:
        raise ValueError("no candidate was scored")
    top = 0
    for i, s in enumerate(scores):
        if s > scores[top]:
            top = i
    return top
