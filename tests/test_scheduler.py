"""run_jobs with on_error: one job's failure drops that job only; without it, the error stops all."""

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.errors import BackendError, InputError
from memagent.loop.agent import MemAgent
from memagent.loop.scheduler import run_jobs
from scripted import ScriptedLLM
from test_agent import needle_doc

CFG = AgentConfig(budgets=Budgets(chunk=64, memory=48, output=32))


class Failing(ScriptedLLM):
    """Fails every request whose question contains `poison` (at its `after`-th request or later)."""

    def __init__(self, tokenizer, poison, after=0, scheduling="rounds"):
        super().__init__(tokenizer)
        self.poison, self.after, self.seen, self.scheduling = poison, after, 0, scheduling

    def generate(self, requests, sampling):
        for r in requests:
            if self.poison in r.messages[-1]["content"]:
                self.seen += 1
                if self.seen > self.after:
                    raise BackendError("injected failure")
        return super().generate(requests, sampling)


@pytest.mark.parametrize("mode", ["rounds", "continuous"])
@pytest.mark.parametrize("after", [0, 3])
def test_one_failing_job_leaves_the_others_their_answers(tokenizer, mode, after):
    doc = needle_doc("4821937")
    questions = ["What is the magic number?", "Which magic number, poisoned?", "The magic number?"]
    clean = MemAgent(ScriptedLLM(tokenizer), CFG).ask_many([(doc, q) for q in questions])
    llm = Failing(tokenizer, "poisoned", after=after, scheduling=mode)
    agent = MemAgent(llm, CFG)
    jobs = [agent.job(doc, q, tag=i) for i, q in enumerate(questions)]
    failed = []
    run_jobs(llm, jobs, CFG.sampling, on_error=lambda job, exc: failed.append((job.tag, str(exc))))
    assert failed == [(1, "injected failure")]
    assert [jobs[i].result().answer for i in (0, 2)] == [clean[0].answer, clean[2].answer]
    assert not jobs[1].done
    # without on_error the first failure stops the run, as before
    llm = Failing(tokenizer, "poisoned", after=after, scheduling=mode)
    jobs = [agent.job(doc, q) for q in questions]
    with pytest.raises(BackendError, match="injected failure"):
        run_jobs(llm, jobs, CFG.sampling)


def test_a_job_whose_document_fails_is_dropped_too(tokenizer):
    def bad_document():
        yield "The magic number is 4821937.\n" * 20
        raise InputError("the document changed while it was read")

    llm = ScriptedLLM(tokenizer)
    agent = MemAgent(llm, CFG)
    jobs = [agent.job(bad_document(), "What is the magic number?", tag=0),
            agent.job(needle_doc("4821937"), "What is the magic number?", tag=1)]
    failed = []
    run_jobs(llm, jobs, CFG.sampling, on_error=lambda job, exc: failed.append(job.tag))
    assert failed == [0] and jobs[1].result().answer == "4821937"


def test_a_stopped_continuous_run_neither_waits_for_nor_keeps_its_requests(tokenizer):
    import threading

    release = threading.Event()

    class Hanging(ScriptedLLM):
        cancelled = 0

        def generate(self, requests, sampling):
            if "hangs" in requests[0].messages[-1]["content"]:
                release.wait(30)  # a server that never answers
            return super().generate(requests, sampling)

        def cancel_pending(self):
            self.cancelled += 1
            release.set()

    llm = Hanging(tokenizer, scheduling="continuous")
    agent = MemAgent(llm, CFG)

    def stop(job, step):
        raise KeyboardInterrupt  # Ctrl-C as the first answer arrives

    jobs = [agent.job(needle_doc("4821937"), "Which magic number hangs?"),
            agent.job(needle_doc("4821937"), "What is the magic number?", on_step=stop)]
    with pytest.raises(KeyboardInterrupt):
        run_jobs(llm, jobs, CFG.sampling)
    assert llm.cancelled == 1
    workers = [t for t in threading.enumerate() if t.name == "memagent-job"]
    assert all(t.daemon for t in workers)  # the interpreter may exit without joining them
