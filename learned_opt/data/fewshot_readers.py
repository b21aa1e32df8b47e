"""Readers of the real few-shot sets, for users who have them on disk.

- Omniglot (Lake et al. 2015): ``images_background/<Alphabet>/<characterNN>/*.png`` (30
  alphabets, the usual meta-training set) and ``images_evaluation/...`` (20 alphabets).
  As in Vinyals et al. 2016 and Finn et al. 2017, images are resized to 28x28.
- miniImageNet (Vinyals et al. 2016, with the class split of Ravi & Larochelle 2017):
  ``train.csv``, ``val.csv``, ``test.csv`` (header ``filename,label``) and an ``images/``
  folder holding the files they name, 600 images of each of 100 classes.

Both return `FewShotImages` with the split fixed by the folders, so episodes come from
classes of the split's own alphabets. Reading needs Pillow (``pip install
"learned-opt[fewshot]"``).
"""

from __future__ import annotations

import csv
import os

import numpy as np

from learned_opt.data.fewshot import FewShotImages

_PILLOW_MISSING = 'Reading image folders needs Pillow: pip install "learned-opt[fewshot]"'


def _image_module():
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(_PILLOW_MISSING) from error
    return Image


def _subfolders(path: str) -> list[str]:
    return sorted(name for name in os.listdir(path) if os.path.isdir(os.path.join(path, name)))


def _stack_classes(per_class: list[np.ndarray], class_names: list[str], root: str) -> np.ndarray:
    counts = {len(images) for images in per_class}
    if len(counts) != 1:
        fewest = min(range(len(per_class)), key=lambda k: len(per_class[k]))
        raise ValueError(
            f"every class needs the same number of images; under {root} they range over {sorted(counts)} "
            f"({class_names[fewest]!r} has {len(per_class[fewest])})"
        )
    return np.stack(per_class)


def read_omniglot(root: str, image_size: int = 28, validation_alphabets: int = 5) -> FewShotImages:
    """Omniglot from its two folders: the background alphabets are the train split; of the
    evaluation alphabets (sorted by name) the first `validation_alphabets` are validation
    and the rest test. Ink is stored as 255 on a 0 background, as in `data.glyphs`.

    Args:
      root: the folder holding ``images_background`` and ``images_evaluation``.
      image_size: side of the resized square images.
      validation_alphabets: how many evaluation alphabets go to validation.

    Raises:
      FileNotFoundError: a folder is missing. ValueError: classes with different numbers of
        drawings, or too few evaluation alphabets.
    """
    image_module = _image_module()
    images, groups, group_names, class_names, split_of_group = [], [], [], [], []
    for folder in ("images_background", "images_evaluation"):
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"Omniglot folder {path} not found (expected {root}/{folder}/<Alphabet>/...)")
        alphabets = _subfolders(path)
        if folder == "images_evaluation" and len(alphabets) <= validation_alphabets:
            raise ValueError(
                f"{path} holds {len(alphabets)} alphabets; {validation_alphabets} go to validation and at least "
                "one must be left for test"
            )
        for position, alphabet in enumerate(alphabets):
            group_names.append(f"{folder}/{alphabet}")
            if folder == "images_background":
                split_of_group.append("train")
            else:
                split_of_group.append("validation" if position < validation_alphabets else "test")
            for character in _subfolders(os.path.join(path, alphabet)):
                directory = os.path.join(path, alphabet, character)
                files = sorted(name for name in os.listdir(directory) if name.lower().endswith(".png"))
                drawings = []
                for name in files:
                    with image_module.open(os.path.join(directory, name)) as image:
                        grey = image.convert("L").resize((image_size, image_size), image_module.BILINEAR)
                    drawings.append(255 - np.asarray(grey, np.uint8))
                images.append(np.stack(drawings)[..., None] if drawings else np.zeros((0, image_size, image_size, 1)))
                groups.append(len(group_names) - 1)
                class_names.append(f"{alphabet}/{character}")
    if not images:
        raise ValueError(f"no character folders found under {root}")
    groups = np.asarray(groups, np.int32)
    splits = {
        name: np.flatnonzero(np.isin(groups, [g for g, s in enumerate(split_of_group) if s == name])).astype(np.int32)
        for name in ("train", "validation", "test")
    }
    return FewShotImages(
        images=_stack_classes(images, class_names, root).astype(np.uint8),
        groups=groups,
        group_names=tuple(group_names),
        splits=splits,
        class_names=tuple(class_names),
    )


MINIIMAGENET_SPLITS = (("train", "train.csv"), ("validation", "val.csv"), ("test", "test.csv"))


def read_miniimagenet(root: str, image_size: int = 84) -> FewShotImages:
    """miniImageNet from its split files: each of ``train.csv``, ``val.csv`` and ``test.csv``
    (header ``filename,label``) names the images (under ``images/``) of its classes. Each
    split is one group. Images are RGB, resized to image_size x image_size.

    Raises:
      FileNotFoundError: a split file or an image is missing. ValueError: a split file
        without the ``filename,label`` header, or classes with different numbers of images.
    """
    image_module = _image_module()
    images, groups, class_names, splits = [], [], [], {}
    for group, (split, file_name) in enumerate(MINIIMAGENET_SPLITS):
        path = os.path.join(root, file_name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"miniImageNet split file {path} not found")
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"filename", "label"} <= set(reader.fieldnames):
                raise ValueError(f"{path} must start with the header 'filename,label', got {reader.fieldnames}")
            files_of_label: dict[str, list[str]] = {}
            for row in reader:
                files_of_label.setdefault(row["label"], []).append(row["filename"])
        first = len(class_names)
        for label, files in files_of_label.items():
            pictures = []
            for name in files:
                image_path = os.path.join(root, "images", name)
                if not os.path.isfile(image_path):
                    raise FileNotFoundError(f"image {image_path} named in {path} not found")
                with image_module.open(image_path) as image:
                    rgb = image.convert("RGB").resize((image_size, image_size), image_module.BILINEAR)
                pictures.append(np.asarray(rgb, np.uint8))
            images.append(np.stack(pictures))
            groups.append(group)
            class_names.append(label)
        splits[split] = np.arange(first, len(class_names), dtype=np.int32)
    return FewShotImages(
        images=_stack_classes(images, class_names, root),
        groups=np.asarray(groups, np.int32),
        group_names=("train", "val", "test"),
        splits=splits,
        class_names=tuple(class_names),
    )
