"""Optimizees and task families."""

from __future__ import annotations

from learned_opt.tasks.base import SPLITS, Task, TaskFamily, sample_problems, sample_task_data, split_key
from learned_opt.tasks.conv import ConvFamily
from learned_opt.tasks.mixture import MixtureFamily
from learned_opt.tasks.mlp import MLPFamily
from learned_opt.tasks.quadratic import QuadraticFamily
from learned_opt.tasks.scaling import RandomScaling

TASK_FAMILIES = {
    "quadratic": QuadraticFamily,
    "mlp": MLPFamily,
    "conv": ConvFamily,
    "scaled_quadratic": lambda: RandomScaling(QuadraticFamily()),
    "scaled_mlp": lambda: RandomScaling(MLPFamily()),
}


def task_family(name: str) -> TaskFamily:
    """The task family with default settings for a command-line name."""
    if name not in TASK_FAMILIES:
        raise ValueError(f"Unknown task family {name!r}; known families: {sorted(TASK_FAMILIES)}")
    return TASK_FAMILIES[name]()


__all__ = [
    "ConvFamily",
    "MixtureFamily",
    "RandomScaling",
    "MLPFamily",
    "QuadraticFamily",
    "SPLITS",
    "TASK_FAMILIES",
    "Task",
    "TaskFamily",
    "sample_problems",
    "sample_task_data",
    "split_key",
    "task_family",
]
