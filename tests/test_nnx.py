"""The learned optimizers inside flax nnx's `nnx.Optimizer`, whose parameters are wrapped in
`nnx.Param`: the optimizer state must follow the parameters' structure like optax's does."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import learned_opt as lo


class TinyModel(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(4, 8, rngs=rngs)
        self.out = nnx.Linear(8, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(jnp.tanh(self.hidden(x)))


@pytest.mark.parametrize(
    "rule",
    [
        lo.DirectLSTM(),
        lo.GatedLSTM(max_learning_rate=4.0),
        lo.DirectLSTM(momentum_decays=(0.5, 0.9), step_timescales=(10.0,), gradient_epsilon=1e-8),
        lo.GatedLSTM(
            momentum_decays=(0.9,),
            descent_direction="normalized_momentum",
            step_timescales=(10.0,),
            loss_change_decays=(0.0,),
        ),
    ],
    ids=["direct", "gated", "direct-moments-steps", "gated-adam-direction-steps-loss"],
)
def test_nnx_optimizer_trains_with_a_learned_rule(rule):
    inputs = jax.random.normal(jax.random.PRNGKey(0), (32, 4))
    targets = jnp.sin(inputs.sum(axis=1, keepdims=True))
    model = TinyModel(nnx.Rngs(0))
    tx = optax.chain(optax.clip_by_global_norm(10.0), lo.learned_optimizer(rule, rule.init(jax.random.PRNGKey(1))))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(inputs) - targets) ** 2))(model)
        optimizer.update(model, grads, value=loss)
        return loss

    losses = [float(train_step(model, optimizer)) for _ in range(30)]
    assert all(np.isfinite(losses))
    assert losses[-1] != losses[0]  # the parameters moved
    hidden_kernel = jnp.asarray(model.hidden.kernel)
    assert hidden_kernel.shape == (4, 8) and hidden_kernel.dtype == jnp.float32
