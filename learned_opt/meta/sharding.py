"""Scale-out with JAX's own engine: a one-axis device mesh over the task batch.

Meta-parameters and the outer optimizer state are replicated; tasks (and any per-task
estimator state) are split along their leading axis across every device of every
process, and XLA inserts the reduction of the meta-gradient. Several hosts join through
`jax.distributed`; on CPU the collectives run over gloo.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

TASK_AXIS = "tasks"
PyTree = Any


def initialize_distributed(coordinator_address: str, num_processes: int, process_id: int) -> None:
    """Joins a multi-process run; call before any other JAX call in every process."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )


def task_mesh(devices=None) -> Mesh:
    """A mesh with one axis, "tasks", over all (global) devices."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (TASK_AXIS,))


def sharded(mesh: Mesh) -> NamedSharding:
    """Split along the leading (task) axis."""
    return NamedSharding(mesh, PartitionSpec(TASK_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def place(host_tree: PyTree, shardings: PyTree) -> PyTree:
    """Global arrays from host values that every process holds in full."""

    def one(value, sharding):
        value = np.asarray(value)
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

    return jax.tree.map(one, host_tree, shardings)


def to_host(tree: PyTree) -> PyTree:
    """Numpy values of (possibly multi-process) global arrays, identical on every process."""

    def one(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return np.asarray(jax.device_get(x))
        if x.sharding.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree.map(one, tree)
