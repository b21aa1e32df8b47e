"""Learned update rules and their optax export."""

from __future__ import annotations

import dataclasses

from learned_opt.optimizers.base import UpdateRule, map_leaves
from learned_opt.optimizers.direct import DirectLSTM, DirectLSTMState, lean_direct_lstm
from learned_opt.optimizers.export import TrainState, learned_optimizer
from learned_opt.optimizers.gated import GatedLSTM, GatedLSTMState, find_gated_state, gate_statistics

RULES: dict[str, type] = {DirectLSTM.name: DirectLSTM, GatedLSTM.name: GatedLSTM}
# Options that earlier versions had and no shipped file, recipe or paper configuration used,
# with the value that switched each off: a stored rule with that value still loads.
REMOVED_OPTIONS = {
    "direction_agreement": False,
    "agreement_gain": 0.0,
    "agreement_decay": 0.9,
    "warmup_steps": 0,
    "direction_correction": False,
}


def rule_from_config(name: str, config: dict) -> UpdateRule:
    """Rebuilds a rule from its name and the dict of its dataclass fields. A field among
    `REMOVED_OPTIONS` is dropped when it holds its off value; with another value it raises
    ValueError (the rule it describes no longer exists)."""
    if name not in RULES:
        raise ValueError(f"Unknown update rule {name!r}; known rules: {sorted(RULES)}")
    fields = {f.name for f in dataclasses.fields(RULES[name])}
    removed = {key: value for key, value in config.items() if key not in fields and key in REMOVED_OPTIONS}
    switched_on = {key: value for key, value in removed.items() if value != REMOVED_OPTIONS[key]}
    if switched_on:
        raise ValueError(f"the stored {name} rule uses options this version no longer has: {switched_on}")
    return RULES[name](**{key: value for key, value in config.items() if key not in removed})


def rule_config(rule: UpdateRule) -> dict:
    """The dataclass fields of a rule, as plain Python values."""
    return {f.name: getattr(rule, f.name) for f in dataclasses.fields(rule)}


__all__ = [
    "DirectLSTM",
    "DirectLSTMState",
    "GatedLSTM",
    "GatedLSTMState",
    "RULES",
    "TrainState",
    "UpdateRule",
    "find_gated_state",
    "gate_statistics",
    "lean_direct_lstm",
    "learned_optimizer",
    "map_leaves",
    "rule_config",
    "rule_from_config",
]
