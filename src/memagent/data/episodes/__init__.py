"""Oracle memory episodes (train / held-out splits): the memory policy's training data.

vocabulary.py  statement shapes, questions, attributes, keys and values; the split of each by hash
haystacks.py   the haystack readers (Debian texts, the stdlib, noise, near misses, biographies)
chains.py      variable chains and their syntaxes (vt, vt_code, vt_any, vt_syntax)
generate.py    OracleEpisode, generate_episode, and episodes as evaluation samples
"""

from memagent.data.episodes.generate import (
    EVAL_CHUNK,
    EVAL_SEED_OFFSET,
    SPLITS,
    TASK_WEIGHTS,
    EpisodeSpec,
    OracleEpisode,
    episode_document,
    episode_sample,
    generate_episode,
    relevant_seen,
)
from memagent.data.episodes.haystacks import (
    DICT_FILES,
    DICT_PACKAGES,
    HELDOUT_HAYSTACKS,
    TRAIN_HAYSTACKS,
    available_haystacks,
    haystack_installed,
)
from memagent.data.episodes.vocabulary import split_of

__all__ = [
    "DICT_FILES",
    "DICT_PACKAGES",
    "EVAL_CHUNK",
    "EVAL_SEED_OFFSET",
    "HELDOUT_HAYSTACKS",
    "SPLITS",
    "TASK_WEIGHTS",
    "TRAIN_HAYSTACKS",
    "EpisodeSpec",
    "OracleEpisode",
    "available_haystacks",
    "episode_document",
    "episode_sample",
    "generate_episode",
    "haystack_installed",
    "relevant_seen",
    "split_of",
]
