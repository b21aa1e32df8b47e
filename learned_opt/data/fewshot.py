"""Image sets for few-shot classification: many classes, a few images each, grouped by
alphabet (a script, or a miniImageNet split) so that train, validation and test classes
come from different groups.

`FewShotImages` is what the generated glyphs (`data.glyphs`) and the readers of the real
Omniglot and miniImageNet folders (`data.fewshot_readers`) return; `fewshot.episodes`
samples N-way K-shot episodes from it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SPLITS = ("train", "validation", "test")


class FewShotImages(NamedTuple):
    """Images of many classes with the same number of examples each.

    Attributes:
      images: uint8 array (classes, examples, height, width, channels), ink or intensity
        0-255 (glyphs and Omniglot store ink as 255 on a 0 background).
      groups: int32 array (classes,): each class's alphabet, an index into `group_names`.
      group_names: the alphabets' names.
      splits: split name ("train", "validation", "test") -> int32 indices of its classes.
      class_names: each class's name (a character, an Omniglot folder, a WordNet id).
    """

    images: np.ndarray
    groups: np.ndarray
    group_names: tuple[str, ...]
    splits: dict[str, np.ndarray]
    class_names: tuple[str, ...]

    def split(self, name: str) -> np.ndarray:
        """The uint8 images (classes, examples, height, width, channels) of split `name`."""
        if name not in self.splits:
            raise ValueError(f"unknown split {name!r}; this set has {sorted(self.splits)}")
        return self.images[self.splits[name]]


def random_images(classes_per_split: int, examples: int, size: int, seed: int = 0) -> FewShotImages:
    """Uniformly random uint8 images of `3 * classes_per_split` classes, one alphabet per
    split: a set of the right shapes for tests and for measuring memory or speed, where
    the pixels do not matter."""
    classes = 3 * classes_per_split
    images = np.random.default_rng(seed).integers(0, 256, (classes, examples, size, size, 1), dtype=np.uint8)
    return FewShotImages(
        images,
        np.repeat(np.arange(3), classes_per_split).astype(np.int32),
        ("a", "b", "c"),
        {
            name: np.arange(i * classes_per_split, (i + 1) * classes_per_split, dtype=np.int32)
            for i, name in enumerate(("train", "validation", "test"))
        },
        tuple(str(k) for k in range(classes)),
    )


def split_by_group(
    groups: np.ndarray, num_groups: int, fractions: tuple[float, float, float], seed: int
) -> dict[str, np.ndarray]:
    """Class indices of the train, validation and test splits, assigning whole groups
    (alphabets) to splits: the groups in a fixed random order (by `seed`), the first
    `fractions[0]` of them to train, the next `fractions[1]` to validation, the rest to test.
    Every split gets at least one group."""
    if num_groups < 3:
        raise ValueError(f"splitting by group needs at least 3 groups, got {num_groups}")
    order = np.random.default_rng(seed).permutation(num_groups)
    num_train = min(max(1, round(fractions[0] * num_groups)), num_groups - 2)
    num_validation = min(max(1, round(fractions[1] * num_groups)), num_groups - num_train - 1)
    assigned = {
        "train": order[:num_train],
        "validation": order[num_train : num_train + num_validation],
        "test": order[num_train + num_validation :],
    }
    return {name: np.flatnonzero(np.isin(groups, members)).astype(np.int32) for name, members in assigned.items()}
