"""Learned update rules and their optax export."""

from __future__ import annotations

import dataclasses

from learned_opt.optimizers.base import UpdateRule, map_leaves
from learned_opt.optimizers.direct import DirectLSTM, DirectLSTMState, lean_direct_lstm
from learned_opt.optimizers.export import learned_optimizer
from learned_opt.optimizers.gated import GatedLSTM, GatedLSTMState, find_gated_state, gate_statistics

RULES: dict[str, type] = {DirectLSTM.name: DirectLSTM, GatedLSTM.name: GatedLSTM}


def rule_from_config(name: str, config: dict) -> UpdateRule:
    """Rebuilds a rule from its name and the dict of its dataclass fields."""
    if name not in RULES:
        raise ValueError(f"Unknown update rule {name!r}; known rules: {sorted(RULES)}")
    return RULES[name](**config)


def rule_config(rule: UpdateRule) -> dict:
    """The dataclass fields of a rule, as plain Python values."""
    return {f.name: getattr(rule, f.name) for f in dataclasses.fields(rule)}


__all__ = [
    "DirectLSTM",
    "DirectLSTMState",
    "GatedLSTM",
    "GatedLSTMState",
    "RULES",
    "UpdateRule",
    "find_gated_state",
    "gate_statistics",
    "lean_direct_lstm",
    "learned_optimizer",
    "map_leaves",
    "rule_config",
    "rule_from_config",
]
