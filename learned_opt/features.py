"""Input preprocessing for coordinate-wise learned optimizers: pure functions."""

from __future__ import annotations

import jax.numpy as jnp

FEATURE_DTYPE = jnp.float32


def log_and_sign(x: jnp.ndarray, p: float = 10.0) -> jnp.ndarray:
    """Log-magnitude-and-sign preprocessing of Andrychowicz et al. 2016 (Appendix A).

    For every scalar x, with p > 0:

        (log|x| / p, sign(x))   if |x| >= exp(-p)
        (-1, exp(p) * x)        otherwise

    The result has shape ``x.shape + (2,)`` and dtype float32, whatever the input dtype,
    and is finite for every finite input (including 0 and magnitudes up to float32's
    maximum). Inputs are clipped to float32's range first so that 1e30 in float64 or
    bfloat16 is handled like its float32 neighbour.
    """
    x = jnp.asarray(x).astype(FEATURE_DTYPE)
    finfo = jnp.finfo(FEATURE_DTYPE)
    x = jnp.clip(x, finfo.min, finfo.max)
    magnitude = jnp.abs(x)
    is_large = magnitude >= jnp.exp(-p)
    # Guard the log so the untaken branch of `where` never produces -inf (and NaN grads).
    safe_magnitude = jnp.where(is_large, magnitude, 1.0)
    first = jnp.where(is_large, jnp.log(safe_magnitude) / p, -1.0)
    second = jnp.where(is_large, jnp.sign(x), jnp.exp(p) * x)
    return jnp.stack([first, second], axis=-1)
