"""Adapters to existing RL engines for multi-node GPU training (optional extras, imported lazily).

trl_async.py: TRL's AsyncGRPOTrainer fed by memagent rollouts (advantages from memagent.rl).
"""
