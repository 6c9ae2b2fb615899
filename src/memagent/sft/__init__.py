"""Supervised warm start of the memory policy: LoRA on oracle conversations (data/episodes/).

Loss is on the reply tokens only (memory update, KEEP, or the boxed answer), with the first reply
token weighted up: it carries the decision (KEEP or start copying a sentence) that a plain mean
would drown among the copied tokens. The run is `stage: sft` of an RL config (rl/config.py) and
writes rl/checkpoint.py's shippable adapter; rl/ never imports this package.

examples.py  one oracle conversation, tokenized, and its weighted loss; a step's batch by seed
probe.py     the greedy find / keep / answer probe on fixed conversations
train.py     train_sft: resume, optimizer steps, checkpoints, metrics, export, loss.png
"""

from memagent.sft.train import train_sft

__all__ = ["train_sft"]
