"""Recipe files: one per paper experiment and per shipped optimizer.

Each defines ``get_config() -> learned_opt.meta.recipe.Recipe`` and is run by
``learned-opt meta-train --config NAME_OR_PATH --out DIR``. `_families.py` holds the
task families that the shipped general-purpose optimizers are meta-trained on.
"""
