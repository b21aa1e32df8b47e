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


# Gradients are clipped to this magnitude before squaring so that g**2 stays inside
# float32's range (3.4e38) for gradients up to 1e30.
_SQUARE_SAFE_MAGNITUDE = 1e18


def _square_safe(grad: jnp.ndarray) -> jnp.ndarray:
    return jnp.clip(grad.astype(FEATURE_DTYPE), -_SQUARE_SAFE_MAGNITUDE, _SQUARE_SAFE_MAGNITUDE)


def accumulate_moments(
    first: jnp.ndarray, second: jnp.ndarray, grad: jnp.ndarray, decays, second_decay: float
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """One step of Adam's exponential moving averages (Kingma & Ba 2015), one momentum per
    decay on the trailing axis of `first`:

        m_k <- beta_k m_k + (1 - beta_k) g     for every beta_k in `decays`
        v   <- beta_2 v + (1 - beta_2) g**2    (beta_2 = `second_decay`)
    """
    g = _square_safe(grad)
    betas = jnp.asarray(decays, FEATURE_DTYPE)
    first = betas * first + (1.0 - betas) * g[..., None]
    second = second_decay * second + (1.0 - second_decay) * jnp.square(g)
    return first, second


def _sqrt_zero_safe(x: jnp.ndarray) -> jnp.ndarray:
    """sqrt(x) for x >= 0 whose derivative at 0 is 0 instead of inf: a coordinate whose
    gradient has always been exactly 0 (a dead ReLU unit) would otherwise turn
    second-order meta-gradients into NaN (inf * 0)."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def normalized_moment_features(
    first: jnp.ndarray,
    second: jnp.ndarray,
    count: jnp.ndarray,
    grad: jnp.ndarray,
    decays,
    second_decay: float,
    epsilon: float = 1e-8,
) -> jnp.ndarray:
    """Momenta and gradient divided by the gradient's running RMS, bias-corrected after
    t = `count` >= 1 steps of `accumulate_moments`:

        m_k / (1 - beta_k^t) / (sqrt(v / (1 - beta_2^t)) + epsilon)   for every k, then
        g / (sqrt(v / (1 - beta_2^t)) + epsilon)

    The first is Adam's direction when beta_k = beta_1. All are invariant to the scale of
    the gradient, like the inputs of Metz et al. 2020 ("Tasks, stability, architecture, and
    compute"). Shape ``grad.shape + (len(decays) + 1,)``, float32, finite for finite inputs.
    """
    t = jnp.maximum(count, 1).astype(FEATURE_DTYPE)
    betas = jnp.asarray(decays, FEATURE_DTYPE)
    momenta = first / (1.0 - betas**t)
    rms = _sqrt_zero_safe(second / (1.0 - jnp.asarray(second_decay, FEATURE_DTYPE) ** t)) + epsilon
    return jnp.concatenate([momenta, _square_safe(grad)[..., None]], axis=-1) / rms[..., None]


def step_features(step: jnp.ndarray, timescales) -> jnp.ndarray:
    """Training-step features tanh(t / s) for every timescale s, with t the number of the
    step being taken (1 for the first). Each rises from near 0 to near 1 around step s, so
    a learned optimizer can step differently early and late in training (a learned
    warm-up), as with the "training step" features of Metz et al. 2022 ("Practical
    tradeoffs between memory, compute, and performance in learned optimizers", Sec. 3).
    Shape ``(len(timescales),)``, float32, in [0, 1)."""
    t = jnp.asarray(step, FEATURE_DTYPE)
    return jnp.tanh(t / jnp.asarray(timescales, FEATURE_DTYPE))


def _log_magnitude(value: jnp.ndarray) -> jnp.ndarray:
    finfo = jnp.finfo(FEATURE_DTYPE)
    return jnp.log(jnp.clip(jnp.abs(jnp.asarray(value, FEATURE_DTYPE)), finfo.tiny, finfo.max))


def accumulate_log_loss(averages: jnp.ndarray, value: jnp.ndarray, decays) -> jnp.ndarray:
    """One step of the moving averages of the log loss, one per decay:

    a_k <- beta_k a_k + (1 - beta_k) log|f_t|     for every beta_k in `decays`
    """
    betas = jnp.asarray(decays, FEATURE_DTYPE)
    return betas * averages + (1.0 - betas) * _log_magnitude(value)


def loss_change_features(averages: jnp.ndarray, count: jnp.ndarray, value: jnp.ndarray, decays) -> jnp.ndarray:
    """How the loss f_t moved against its recent past, after t = `count` steps of
    `accumulate_log_loss`, for every decay beta_k:

        tanh(log|f_t| - a_k / (1 - beta_k^t))     (0 at t = 0)

    With beta_k = 0 this is tanh(log(f_t / f_{t-1})): positive when the last step raised the
    loss. A rule that reads it can shrink its steps as soon as they overshoot, which log|f_t|
    itself (as in `log_and_sign`, scaled by 1/p) shows only as a change in the third decimal:
    Adam at learning rate 0.04 raised an MLP's loss on min-max scaled mnist1d from about 2.35
    to 2.5-2.8 in its first step and then often stalled at chance, where on digits the first
    step lowers it. Shape ``(len(decays),)``, float32, in (-1, 1); meant for positive losses
    (the log of |f| is taken, clipped to float32's range)."""
    betas = jnp.asarray(decays, FEATURE_DTYPE)
    t = jnp.maximum(count, 1).astype(FEATURE_DTYPE)
    change = jnp.tanh(_log_magnitude(value) - averages / (1.0 - betas**t))
    return jnp.where(count > 0, change, 0.0)
