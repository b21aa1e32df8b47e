"""Recipes: a rule, task families and ordered meta-training stages, run by one command.

A recipe file is a Python module with ``get_config() -> Recipe`` (as the flax examples
keep their `configs/`); the recipes that reproduce the paper's experiments and the shipped
files live in `learned_opt/recipes/`. ``learned-opt meta-train --config PATH --out DIR``
runs one from random initialisation: stage k meta-trains from the best meta-parameters of
stage k - 1, in OUT/stage_k/, and OUT/optimizer.msgpack is the last stage's best, with
metadata naming the recipe, the code commit and the wall time. ``--resume`` continues a
stopped run (finished stages are not run again; the stage in flight resumes from its
saved training state), and ends with the same meta-parameters as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from learned_opt.meta.config import MetaTrainConfig, describe
from learned_opt.meta.train import machine_description, meta_train
from learned_opt.optimizers import UpdateRule, rule_config
from learned_opt.tasks.base import TaskFamily

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"
OPTIMIZER_FILENAME = "optimizer.msgpack"
METRICS_FILENAME = "metrics.jsonl"
# What `Recipe.smoke` shrinks every stage to: a run of seconds that exercises every code path.
SMOKE_META_STEPS, SMOKE_TASKS, SMOKE_TRUNCATION, SMOKE_VALIDATION_PROBLEMS = 2, 4, 2, 2


@dataclasses.dataclass(frozen=True)
class Stage:
    """One meta-training run of a recipe: its settings, and the families it trains on (the
    recipe's when None)."""

    config: MetaTrainConfig
    families: tuple[TaskFamily, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named rule, its training families and its stages, in order."""

    name: str
    rule: UpdateRule
    families: tuple[TaskFamily, ...]
    stages: tuple[Stage, ...]
    description: str = ""

    def __post_init__(self):
        if not self.stages:
            raise ValueError(f"recipe {self.name!r} has no stages")
        if not self.families and any(stage.families is None for stage in self.stages):
            raise ValueError(f"recipe {self.name!r} has no task families")

    def smoke(self) -> Recipe:
        """The same recipe at the `SMOKE_` sizes, on its first task family (what the tests
        run; training on several families in turn is tested on its own)."""
        stages = []
        for stage in self.stages:
            config = dataclasses.replace(
                stage.config,
                num_meta_steps=SMOKE_META_STEPS,
                num_tasks=SMOKE_TASKS,
                horizon=2 * SMOKE_TRUNCATION,
                truncation_length=SMOKE_TRUNCATION,
                validation=dataclasses.replace(
                    stage.config.validation, every=1, num_problems=SMOKE_VALIDATION_PROBLEMS
                ),
            )
            families = None if stage.families is None else stage.families[:1]
            stages.append(Stage(config, families))
        return dataclasses.replace(self, families=self.families[:1], stages=tuple(stages))

    def with_families(self, families: tuple[TaskFamily, ...]) -> Recipe:
        """The recipe on other task families (every stage)."""
        stages = tuple(dataclasses.replace(stage, families=None) for stage in self.stages)
        return dataclasses.replace(self, families=tuple(families), stages=stages)


def recipe_names() -> list[str]:
    """The recipes in `learned_opt/recipes/`, by file name."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.py") if not p.stem.startswith("_"))


def recipe_path(spec: str) -> Path:
    """The file of a recipe given as a path or as the name of one in `learned_opt/recipes/`."""
    path = Path(spec)
    if path.is_file():
        return path
    if (RECIPES_DIR / f"{spec}.py").is_file():
        return RECIPES_DIR / f"{spec}.py"
    raise FileNotFoundError(f"no recipe file {spec!r}; shipped recipes: {', '.join(recipe_names())}")


def recipe_file_name(path: Path) -> str:
    """`path` as a checkpoint records it: relative to the repository for a shipped recipe
    (learned_opt/recipes/NAME.py, the same on every machine), else as given."""
    resolved = Path(path).resolve()
    if resolved.parent == RECIPES_DIR:
        return str(resolved.relative_to(RECIPES_DIR.parent.parent))
    return str(path)


def load_recipe(spec: str) -> tuple[Recipe, Path]:
    """The `Recipe` of a recipe file (its ``get_config()``) and the file's path."""
    path = recipe_path(spec)
    module_spec = importlib.util.spec_from_file_location(f"learned_opt_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"{path} defines no get_config() returning a learned_opt Recipe")
    recipe = module.get_config()
    if not isinstance(recipe, Recipe):
        raise ValueError(f"{path}: get_config() returned {type(recipe).__name__}, not a Recipe")
    return recipe, path


def load_attribute(spec: str) -> Any:
    """The object named by "module:attribute" (a custom task family, say); called first if
    it is a class or function of no arguments."""
    module_name, separator, attribute = spec.partition(":")
    if not separator or not module_name or not attribute:
        raise ValueError(f"expected module:attribute, got {spec!r}")
    target = getattr(importlib.import_module(module_name), attribute)
    return target() if callable(target) and not isinstance(target, TaskFamily) else target


def code_commit() -> str:
    """The git commit of the source tree ("+dirty" with uncommitted changes to the package,
    learned_opt/, the code a run runs), or "unknown"."""
    root = Path(__file__).resolve().parent.parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "learned_opt"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _finished_stage(stage_dir: Path, rule: UpdateRule, stage: Stage, families):
    """The checkpoint of a stage that ran to its end, or None; a CheckpointError if that
    run had other settings than `stage` on `families`."""
    from learned_opt.checkpoint import CheckpointError, load

    path = stage_dir / OPTIMIZER_FILENAME
    if not path.is_file():
        return None
    loaded = load(path, rule)
    settings = json.loads(json.dumps(describe(stage.config)))
    if loaded.metadata.get("meta_train_config") != settings or loaded.metadata.get("families") != [
        repr(f) for f in families
    ]:
        raise CheckpointError(f"{path} was written by a stage with other settings; resume with the same recipe")
    return loaded if loaded.metadata.get("finished") else None


def run_recipe(
    recipe: Recipe,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    recipe_file: str | None = None,
    command: str | None = None,
    mesh=None,
) -> Path:
    """Runs every stage of `recipe` into `out` and writes OUT/optimizer.msgpack (the last
    stage's best meta-parameters) and OUT/metrics.jsonl (every stage's records, each with
    its "stage"). `recipe_file` and `command` (the command line that reproduces the run) are
    recorded in its metadata. Returns the checkpoint's path."""
    from learned_opt.checkpoint import save

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not resume:
        raise FileExistsError(f"{out} is not empty: pass --resume to continue the run there, or another --out")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    commit = code_commit()  # the code this call runs, whatever is committed while it runs
    initial = None
    stage_records = []
    for index, stage in enumerate(recipe.stages):
        stage_dir = out / f"stage_{index}"
        families = stage.families if stage.families is not None else recipe.families
        done = _finished_stage(stage_dir, recipe.rule, stage, families) if resume else None
        if done is None:
            meta_train(
                recipe.rule,
                families,
                stage.config,
                run_dir=stage_dir,
                resume=resume,
                progress=progress,
                initial_meta_params=initial,
                mesh=mesh,
                metadata={"recipe": recipe.name, "stage": index},
            )
            done = _finished_stage(stage_dir, recipe.rule, stage, families)
        initial = done.meta_params
        stage_records.append(
            {
                "stage": index,
                "best_step": done.metadata["best_step"],
                "best_validation_loss": done.metadata["best_validation_loss"],
                "seconds": done.metadata["seconds"],
            }
        )
    lines = []
    for index in range(len(recipe.stages)):
        for line in (out / f"stage_{index}" / METRICS_FILENAME).read_text().splitlines():
            lines.append(json.dumps({**json.loads(line), "stage": index}))
    (out / METRICS_FILENAME).write_text("".join(line + "\n" for line in lines))
    metadata = {
        "recipe": recipe.name,
        "recipe_file": recipe_file,
        "command": command,
        "description": recipe.description,
        "rule_config": rule_config(recipe.rule),
        "families": [repr(f) for f in recipe.families],
        "stages": [
            {**record, "meta_train_config": describe(stage.config)}
            for record, stage in zip(stage_records, recipe.stages)
        ],
        "code_commit": commit,
        "machine": machine_description(),
        "seconds": sum(record["seconds"] for record in stage_records),
        "wall_seconds_this_call": time.perf_counter() - start,
        "finished": True,
    }
    return save(out / OPTIMIZER_FILENAME, recipe.rule, initial, metadata)
