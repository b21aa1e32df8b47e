"""Few-shot methods: MAML's meta-gradient, the terms first-order MAML and Reptile drop, the
episode samplers, the gated meta-learner, checkpointed adaptation, and a small run in
which meta-learning beats pretraining."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from learned_opt import cli, fewshot
from learned_opt.data.fewshot import random_images
from learned_opt.fewshot import episodes, models
from learned_opt.fewshot.benchmarks import ImageClassification, map_tasks
from learned_opt.fewshot.configs import FewShotConfig, default_config, run_fewshot
from learned_opt.optimizers.gated import find_gated_state


@dataclasses.dataclass(frozen=True)
class TinyRegression:
    """A sinusoid benchmark with a 1-8-1 learner: small enough for finite differences."""

    name = "tiny"
    task_batching = "vmap"
    evaluation_batching = "vmap"
    higher_is_better = False
    shots: int = 5

    def init(self, key):
        return models.mlp_init(key, (1, 8, 1), scale=0.5)

    def expand(self, params):
        return params

    def loss(self, params, batch):
        x, y = batch
        return jnp.mean((models.mlp_apply(params, x) - y) ** 2)

    metric = loss

    def episodes(self, key, count, split="train"):
        keys = jax.random.split(jax.random.fold_in(key, ("train", "validation", "test").index(split)), count)
        return jax.vmap(lambda k: episodes.sinusoid_episode(k, self.shots, 10))(keys)


def test_maml_meta_gradient_matches_finite_differences():
    benchmark = TinyRegression()
    method = fewshot.MAML(inner_lr=0.05, inner_steps=2)
    theta = benchmark.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    loss, grad = method.meta_gradient(theta, key, benchmark, meta_batch=3)
    flat, unravel = jax.flatten_util.ravel_pytree(theta)
    direction = jax.random.normal(jax.random.PRNGKey(2), flat.shape)
    direction = direction / jnp.linalg.norm(direction)
    eps = 1e-2

    def objective(vector):
        return method.meta_gradient(unravel(vector), key, benchmark, meta_batch=3)[0]

    numeric = (objective(flat + eps * direction) - objective(flat - eps * direction)) / (2 * eps)
    analytic = jnp.dot(jax.flatten_util.ravel_pytree(grad)[0], direction)
    assert abs(float(numeric) - float(analytic)) < 2e-3 * max(1.0, abs(float(analytic)))
    # and it is not the first-order gradient, which differs on this problem
    _, first_order = dataclasses.replace(method, first_order=True).meta_gradient(theta, key, benchmark, 3)
    assert float(jnp.abs(jax.flatten_util.ravel_pytree(first_order)[0] - grad_flat(grad)).max()) > 1e-4


def grad_flat(tree):
    return jax.flatten_util.ravel_pytree(tree)[0]


def test_first_order_maml_and_reptile_differ_from_maml_by_the_terms_they_drop():
    """One inner step, phi = theta - a g_s(theta): MAML's gradient is (I - a H_s) g_q(phi);
    first-order MAML keeps g_q(phi) and drops -a H_s g_q(phi); Reptile's direction is
    theta - phi = a g_s(theta), with no query term."""
    benchmark = TinyRegression()
    lr = 0.05
    theta = benchmark.init(jax.random.PRNGKey(3))
    key = jax.random.PRNGKey(4)
    episode = jax.tree.map(lambda x: x[0], benchmark.episodes(key, 1))
    support_grad = jax.grad(benchmark.loss)(theta, episode.support)
    phi = jax.tree.map(lambda t, g: t - lr * g, theta, support_grad)
    query_grad = jax.grad(benchmark.loss)(phi, episode.query)
    _, hessian_term = jax.jvp(lambda p: jax.grad(benchmark.loss)(p, episode.support), (theta,), (query_grad,))

    _, maml = fewshot.MAML(inner_lr=lr, inner_steps=1).meta_gradient(theta, key, benchmark, 1)
    _, fomaml = fewshot.MAML(inner_lr=lr, inner_steps=1, first_order=True).meta_gradient(theta, key, benchmark, 1)
    _, reptile = fewshot.Reptile(inner_lr=lr, inner_steps=1).meta_gradient(theta, key, benchmark, 1)

    np.testing.assert_allclose(grad_flat(fomaml), grad_flat(query_grad), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_flat(maml) - grad_flat(fomaml), -lr * grad_flat(hessian_term), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grad_flat(reptile), lr * grad_flat(support_grad), rtol=1e-5, atol=1e-7)
    assert float(jnp.abs(grad_flat(hessian_term)).max()) > 1e-3  # the dropped term is not zero here


def test_checkpointed_adaptation_gives_the_same_meta_gradient_with_less_memory():
    benchmark = fewshot.Sinusoid(shots=5)
    theta = benchmark.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    plain = fewshot.MAML(inner_lr=0.01, inner_steps=20)
    remat = dataclasses.replace(plain, checkpoint=True)
    results = [jax.jit(lambda p, m=m: m.meta_gradient(p, key, benchmark, 4)) for m in (plain, remat)]
    (loss_a, grad_a), (loss_b, grad_b) = (f(theta) for f in results)
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
    np.testing.assert_allclose(grad_flat(grad_a), grad_flat(grad_b), rtol=1e-4, atol=1e-7)
    memory = [f.lower(theta).compile().memory_analysis().temp_size_in_bytes for f in results]
    assert memory[1] < memory[0]


def test_sinusoid_tasks_are_drawn_from_the_papers_ranges():
    batch = fewshot.Sinusoid(shots=5, queries=7).episodes(jax.random.PRNGKey(0), 2000)
    amplitude, phase = np.asarray(batch.classes).T
    assert 0.1 <= amplitude.min() < 0.2 and 4.9 < amplitude.max() <= 5.0
    assert 0.0 <= phase.min() < 0.05 and np.pi - 0.05 < phase.max() <= np.pi
    x_support, y_support = (np.asarray(a) for a in batch.support)
    assert x_support.shape == (2000, 5, 1) and batch.query[0].shape == (2000, 7, 1)
    assert -5.0 <= x_support.min() < -4.9 and 4.9 < x_support.max() <= 5.0
    np.testing.assert_allclose(
        y_support[..., 0], amplitude[:, None] * np.sin(x_support[..., 0] - phase[:, None]), atol=1e-5
    )


def _numbered_images(classes=12, examples=6):
    """Images whose pixels encode their class and example: pixel (0, 0) = class, (0, 1) = example."""
    images = np.zeros((classes, examples, 4, 4, 1), np.uint8)
    images[:, :, 0, 0, 0] = np.arange(classes)[:, None]
    images[:, :, 0, 1, 0] = np.arange(examples)[None, :]
    return images


@pytest.mark.parametrize("ways,shots,queries", [(5, 1, 5), (3, 2, 4), (12, 1, 1)])
def test_episodes_have_disjoint_support_and_query_and_the_right_counts(ways, shots, queries):
    images = jnp.asarray(_numbered_images())
    for seed in range(5):
        episode = episodes.image_episode(jax.random.PRNGKey(seed), images, ways, shots, queries)
        (sx, sy), (qx, qy) = episode.support, episode.query
        assert sx.shape == (ways * shots, 4, 4, 1) and qx.shape == (ways * queries, 4, 4, 1)
        assert np.bincount(np.asarray(sy), minlength=ways).tolist() == [shots] * ways
        assert np.bincount(np.asarray(qy), minlength=ways).tolist() == [queries] * ways
        classes = np.asarray(episode.classes)
        assert len(set(classes.tolist())) == ways
        support = {(round(float(x[0, 0, 0]) * 255), round(float(x[0, 1, 0]) * 255)) for x in sx}
        query = {(round(float(x[0, 0, 0]) * 255), round(float(x[0, 1, 0]) * 255)) for x in qx}
        assert len(support) == ways * shots and len(query) == ways * queries and not support & query
        # each label names the class its images come from
        for x, label in zip(np.asarray(sx), np.asarray(sy)):
            assert round(float(x[0, 0, 0]) * 255) == classes[label]
    with pytest.raises(ValueError, match="needs at least"):
        episodes.image_episode(jax.random.PRNGKey(0), images, 13, 1, 1)


def _small_image_benchmark(ways=3, shots=1):
    return ImageClassification(random_images(3, 4, 8), ways=ways, shots=shots, queries=2, filters=4, blocks=1)


def test_task_batching_gives_what_vmap_gives():
    benchmark = _small_image_benchmark()
    method = fewshot.MAML(inner_lr=0.1, inner_steps=1)
    theta = benchmark.init(jax.random.PRNGKey(0))
    batch = benchmark.episodes(jax.random.PRNGKey(1), 3)

    def losses(how):
        return map_tasks(lambda e: benchmark.loss(benchmark.expand(theta), e.query), batch, how)

    for how in ("map", "unroll"):
        np.testing.assert_allclose(losses(how), losses("vmap"), rtol=1e-5)
    grad, reference = (
        method.meta_gradient(theta, jax.random.PRNGKey(1), dataclasses.replace(benchmark, task_batching=how), 3)[1]
        for how in ("unroll", "vmap")
    )
    np.testing.assert_allclose(grad_flat(grad), grad_flat(reference), rtol=1e-4, atol=1e-6)


def test_every_method_runs_on_images_and_at_another_number_of_ways():
    benchmark = dataclasses.replace(_small_image_benchmark(), task_batching="vmap", evaluation_batching="vmap")
    wider = dataclasses.replace(benchmark, ways=3, shots=2)
    for name, method in fewshot.METHODS.items():
        method = method(inner_lr=0.1, inner_steps=1)
        result = fewshot.meta_train(method, benchmark, jax.random.PRNGKey(0), 2, meta_batch=2, progress=False)
        assert np.all(np.isfinite(result.losses)), name
        evaluation = fewshot.evaluate(method, result.meta_params, wider, jax.random.PRNGKey(1), tasks=4, steps=1)
        assert evaluation.per_task.shape == (4, 2) and np.all((0 <= evaluation.per_task) & (evaluation.per_task <= 1))


def test_gated_meta_learner_trains_its_rule_and_the_initialisation_and_reads_gates():
    benchmark = TinyRegression()
    method = fewshot.GatedMetaLearner(inner_lr=0.05, inner_steps=2)
    meta_params = method.init(jax.random.PRNGKey(0), benchmark)
    _, grad = method.meta_gradient(meta_params, jax.random.PRNGKey(1), benchmark, 4)
    for part in ("rule", "init"):
        assert float(jnp.abs(grad_flat(grad[part])).max()) > 0, part
    # untrained, it starts close to MAML's step: the input gate near inner_lr, forget near 1
    episode = jax.tree.map(lambda x: x[0], benchmark.episodes(jax.random.PRNGKey(2), 1))
    optimizer = method.inner_optimizer(meta_params)
    state = optimizer.init(meta_params["init"])
    loss, g = jax.value_and_grad(benchmark.loss)(meta_params["init"], episode.support)
    _, state = optimizer.update(g, state, meta_params["init"], value=loss)
    gates = find_gated_state(state)
    assert np.allclose(grad_flat(gates.input), 0.05, rtol=0.2)
    assert grad_flat(gates.forget).min() > 0.99


def test_meta_learning_beats_pretraining_on_a_small_sinusoid_run():
    benchmark = fewshot.Sinusoid(shots=10)
    key = jax.random.PRNGKey(0)
    scores = {}
    for method, iterations in ((fewshot.MAML(inner_lr=0.01), 5000), (fewshot.Pretrain(inner_lr=0.01), 1000)):
        result = fewshot.meta_train(method, benchmark, key, iterations, meta_batch=25, progress=False)
        evaluation = fewshot.evaluate(method, result.meta_params, benchmark, jax.random.PRNGKey(1), tasks=200, steps=5)
        scores[method.label] = evaluation
    maml, pretrain = scores["maml"], scores["pretrain"]
    assert maml.mean[5] + maml.interval[5] < pretrain.mean[5] - pretrain.interval[5], (maml.mean, pretrain.mean)


def test_meta_training_resumes_to_the_uninterrupted_result(tmp_path):
    benchmark = TinyRegression()
    method = fewshot.MAML(inner_lr=0.05)
    path = tmp_path / "state.msgpack"
    whole = fewshot.meta_train(method, benchmark, jax.random.PRNGKey(0), 6, 2, progress=False)
    fewshot.meta_train(method, benchmark, jax.random.PRNGKey(0), 4, 2, checkpoint_path=path, progress=False)
    resumed = fewshot.meta_train(method, benchmark, jax.random.PRNGKey(0), 6, 2, checkpoint_path=path, progress=False)
    np.testing.assert_array_equal(grad_flat(whole.meta_params), grad_flat(resumed.meta_params))
    np.testing.assert_array_equal(whole.losses, resumed.losses)


def test_configs_refuse_bad_settings():
    with pytest.raises(ValueError, match="benchmark must be one of"):
        default_config("omniglot", "maml")
    with pytest.raises(ValueError, match="method must be one of"):
        FewShotConfig("sinusoid", "protonet")
    with pytest.raises(ValueError, match="shots must be positive"):
        default_config("sinusoid", "maml", shots=0)


def test_run_fewshot_writes_and_reuses_its_result(tmp_path):
    config = default_config("sinusoid", "fomaml", 5, iterations=20, test_tasks=10, validation_tasks=4, validations=2)
    payload = run_fewshot(config, tmp_path, progress=False)
    assert payload["test"]["steps"] == 10 and len(payload["test"]["curve"]) == 11
    assert [int(i) for i, _ in payload["validations"]] == [10, 20]
    assert json.loads((tmp_path / "result.json").read_text())["test"] == payload["test"]
    again = run_fewshot(config, tmp_path, progress=False)
    assert again == json.loads(json.dumps(payload))


def test_fewshot_command_reports_and_writes_json(tmp_path, capsys):
    out, report = tmp_path / "run", tmp_path / "result.json"
    argv = ["fewshot", "--benchmark", "sinusoid", "--method", "maml", "--iterations", "10", "--test-tasks", "8"]
    argv += ["--validation-tasks", "4", "--eval-steps", "3", "--out", str(out), "--json", str(report), "--no-progress"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "sinusoid-5shot-maml: test MSE" in text and "after 3 steps" in text
    assert json.loads(report.read_text())["config"]["iterations"] == 10
    with pytest.raises(SystemExit):
        cli.main(["fewshot", "--benchmark", "sinusoid", "--method", "maml", "--shots", "0"])


def test_maml_takes_any_optax_optimizer_as_its_inner_loop():
    benchmark = TinyRegression()
    theta = benchmark.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    sgd = fewshot.MAML(inner_lr=0.05, inner_steps=2)
    adam = fewshot.MAML(inner_steps=2, optimizer=optax.adam(0.05))
    (loss_sgd, grad_sgd), (loss_adam, grad_adam) = (m.meta_gradient(theta, key, benchmark, 2) for m in (sgd, adam))
    assert np.isfinite(loss_adam) and loss_adam != loss_sgd
    assert np.all(np.isfinite(grad_flat(grad_adam))) and not np.allclose(grad_flat(grad_adam), grad_flat(grad_sgd))
