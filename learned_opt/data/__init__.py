"""Datasets as numpy arrays with a fixed train / test split."""

from learned_opt.data.datasets import DATASETS, Dataset, load_dataset

__all__ = ["DATASETS", "Dataset", "load_dataset"]
