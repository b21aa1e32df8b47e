"""Datasets as numpy arrays with a fixed train / test split.

`load_dataset(name)` is the entry point; `DATASETS` maps each name to its loader. Readers of
the file formats live in `idx` (MNIST, Fashion-MNIST) and `cifar` (CIFAR-10), MNIST-1D
generation in `generated`, and fetching in `download` (imported on demand).
"""

from learned_opt.data.datasets import DATASETS, Dataset, availability, load_dataset, missing_files
from learned_opt.data.paths import ENV_VAR, data_root, dataset_dir

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "Dataset",
    "availability",
    "data_root",
    "dataset_dir",
    "load_dataset",
    "missing_files",
]
