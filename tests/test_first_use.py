"""What a new user meets first: the flax TrainState, the top-level names, what a Python
meta-training run writes, default output directories, error messages, non-finite losses."""

import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training import train_state

import learned_opt as lo
from learned_opt import cli
from learned_opt.meta import MetaTrainConfig, Validation, meta_train
from learned_opt.tasks import QuadraticFamily

README = Path(__file__).resolve().parent.parent / "README.md"


def quadratic_loss(params):
    return jnp.sum((params["w"] - jnp.arange(4.0)) ** 2)


def test_train_state_passes_the_loss_to_the_gated_optimizer():
    tx = lo.pretrained("gated")
    params = {"w": jnp.zeros(4)}
    loss, grads = jax.value_and_grad(quadratic_loss)(params)
    stock = train_state.TrainState.create(apply_fn=None, params=params, tx=tx)
    with pytest.raises(ValueError, match="needs the loss"):
        stock.apply_gradients(grads=grads)

    state = lo.TrainState.create(apply_fn=None, params=params, tx=tx)
    opt_state = tx.init(params)
    for _ in range(3):
        loss, grads = jax.value_and_grad(quadratic_loss)(state.params)
        state = state.apply_gradients(grads=grads, value=loss)
        updates, opt_state = tx.update(grads, opt_state, params, value=loss)
        params = optax.apply_updates(params, updates)
    assert int(state.step) == 3
    np.testing.assert_array_equal(state.params["w"], params["w"])
    assert float(quadratic_loss(state.params)) < float(quadratic_loss({"w": jnp.zeros(4)}))


def test_names_the_docs_use_exist_at_the_top_level():
    texts = [README.read_text(), *lo.list_pretrained().values()]
    used = {name for text in texts for name in re.findall(r"\blo\.([A-Za-z_]+)", text)}
    assert {"load_pretrained", "TrainState", "pretrained"} <= used
    assert all(hasattr(lo, name) for name in used), sorted(name for name in used if not hasattr(lo, name))
    assert lo.load_pretrained("l2l").rule.name == "direct"


def test_the_readme_names_the_command_that_writes_each_run_it_loads():
    text = README.read_text()
    for run in set(re.findall(r'lo\.load\("([^"]+)"\)', text)):
        assert re.search(rf"learned-opt meta-train --config \S+ --out {re.escape(run)}\b", text), run


def test_python_meta_training_writes_what_the_command_line_writes(tmp_path):
    config = MetaTrainConfig(
        num_meta_steps=2,
        num_tasks=4,
        horizon=4,
        truncation_length=2,
        validation=Validation(every=1, num_problems=2),
    )
    meta_train(lo.DirectLSTM(hidden_sizes=(4,)), (QuadraticFamily(),), config, run_dir=tmp_path, progress=False)
    assert lo.load(tmp_path).metadata["finished"]
    assert "cores, jax" in lo.load(tmp_path).metadata["machine"]  # runs repeat bitwise on one machine kind
    assert cli.main(["plot", str(tmp_path)]) == 0
    assert (tmp_path / "metrics.png").stat().st_size > 1000


def test_benchmark_writes_into_a_new_directory_here(tmp_path, monkeypatch):
    import learned_opt.suite as suite

    written = []
    monkeypatch.setattr(suite, "run_suite", lambda config, out: written.append(out) or {})
    monkeypatch.chdir(tmp_path)
    assert cli.main(["benchmark", "--quick"]) == 0
    (out,) = written
    assert out.parent == Path(".") and out.name.startswith("benchmark-") and not out.exists()


def test_an_unknown_dataset_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        cli.main(["benchmark", "--datasets", "nope"])
    assert exit.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_plot_of_a_file_that_is_no_metrics_log_says_so(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(SystemExit, match="is not a meta-training metrics record"):
        cli.main(["plot", str(path)])


def test_evaluate_needs_a_checkpoint(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["evaluate", "--task", "quadratic"])
    assert exit.value.code == 2 and "--checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("rule, field", [(lo.GatedLSTM, "max_learning_rate"), (lo.DirectLSTM, "output_scale")])
def test_a_rule_option_that_is_not_a_number_is_named(rule, field):
    with pytest.raises(ValueError, match=rf"{field} must be a number, got 'abc'"):
        rule(**{field: "abc"})


def test_help_states_no_empty_default():
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"meta-train", "evaluate", "benchmark", "demo", "plot", "export"} <= set(commands)
    for name, command in commands.items():
        text = command.format_help()
        assert "(default: None)" not in text and "(default: False)" not in text, name


@pytest.mark.parametrize("name", list(lo.list_pretrained()))
@pytest.mark.parametrize("loss", [np.nan, np.inf])
def test_a_step_with_a_non_finite_loss_is_skipped(name, loss):
    tx = lo.pretrained(name)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    updates, new_state = tx.update({"w": jnp.ones(3)}, state, params, value=jnp.float32(loss))
    np.testing.assert_array_equal(updates["w"], 0.0)
    assert int(new_state.skipped) == 1
    jax.tree.map(np.testing.assert_array_equal, new_state._replace(skipped=state.skipped), state)
