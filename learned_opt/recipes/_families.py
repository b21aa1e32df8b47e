"""The ten MLP classifier families the shipped `l2l` and `gated` are meta-trained on.

Small fully connected networks on scikit-learn's digits and on mnist1d, of several widths,
depths and activations, two of them randomly scaled (`RandomScaling`). The held-out tasks of
`experiments/evaluate_pretrained.py` are other widths, depths and step counts.
"""

from learned_opt.tasks import MLPFamily, RandomScaling

# (dataset, hidden sizes, activation, randomly scaled)
MLP_CLASSIFIERS = (
    ("digits", (20,), "sigmoid", False),
    ("digits", (32,), "relu", True),
    ("digits", (16, 16), "tanh", False),
    ("mnist1d", (24,), "relu", False),
    ("mnist1d", (20, 20), "sigmoid", True),
    ("mnist1d", (48,), "tanh", False),
    # wider ReLU networks, on which Adam at the learning rate that suits digits stalls
    ("mnist1d", (128,), "relu", False),
    ("mnist1d", (40, 40), "relu", False),
    ("digits", (96,), "relu", False),
    # a deeper one: rules meta-trained without it slow down late on deeper networks
    ("mnist1d", (48, 48, 48), "relu", False),
)


def mlp_classifiers():
    """The families of `MLP_CLASSIFIERS`, in order."""
    families = []
    for dataset, hidden, activation, scaled in MLP_CLASSIFIERS:
        family = MLPFamily(hidden_sizes=hidden, activation=activation, dataset=dataset)
        families.append(RandomScaling(family) if scaled else family)
    return tuple(families)
