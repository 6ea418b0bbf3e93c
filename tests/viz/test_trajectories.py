"""Optimiser paths on the toy losses (`kerascv_suite.viz.trajectories`) against the update equations in NumPy.

The optimizers are the library's, built from spec mappings; the references use each surface's
analytic gradient, so a wrong surface, a wrong gradient or a wrong optimizer all fail here.
"""

import numpy as np
import pytest
from pydantic import ValidationError

from kerascv_suite.viz.trajectories import DEFAULT_OPTIMIZERS, SURFACES, build_optimizer, plot_trajectories, trajectories

RAVINE = SURFACES["ravine"]


def ravine_gradient(point: np.ndarray) -> np.ndarray:
    """∇(x²/20 + y²) = (x/10, 2y)."""
    return np.array([point[0] / 10, 2 * point[1]])


def bowl_gradient(point: np.ndarray) -> np.ndarray:
    """∇((x² + y²)/4) = (x/2, y/2)."""
    return point / 2


def test_sgd_follows_gradient_descent_in_closed_form():
    alpha, steps = 0.3, 15
    expected = [np.array(RAVINE.start)]
    for _ in range(steps):
        expected.append(expected[-1] - alpha * ravine_gradient(expected[-1]))   # x ← x − α∇f(x)
    path = trajectories(RAVINE, {"sgd": {"name": "sgd", "learning_rate": alpha}}, steps)["sgd"]
    assert path.shape == (steps + 1, 2)
    np.testing.assert_allclose(path, np.stack(expected), rtol=1e-5, atol=1e-6)


def test_momentum_follows_the_velocity_recurrence():
    spec = DEFAULT_OPTIMIZERS["SGD+momentum"]
    alpha, rho = spec["learning_rate"], spec["momentum"]
    x, v, expected = np.array(RAVINE.start), np.zeros(2), [np.array(RAVINE.start)]
    for _ in range(6):
        v = rho * v - alpha * ravine_gradient(x)   # Keras's convention: v ← ρv − αg, x ← x + v
        x = x + v
        expected.append(x)
    np.testing.assert_allclose(trajectories(RAVINE, {"m": spec}, 6)["m"], np.stack(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("start", [RAVINE.start, (-0.5, 3.0)])
def test_adams_first_step_is_the_learning_rate_in_each_coordinate_whatever_the_gradients_scale(start):
    alpha = DEFAULT_OPTIMIZERS["Adam"]["learning_rate"]
    path = trajectories(RAVINE, {"adam": DEFAULT_OPTIMIZERS["Adam"]}, 1, start=start)["adam"]
    gradient = ravine_gradient(np.array(start))
    assert abs(gradient[1] / gradient[0]) > 5                              # the steep coordinate's gradient is larger…
    np.testing.assert_array_equal(path[0], start)
    np.testing.assert_allclose(path[1] - path[0], -alpha * np.sign(gradient), rtol=1e-4)   # …and both move by α


def test_sgd_zig_zags_across_the_ravine_and_walks_along_it():
    steps = np.diff(trajectories(RAVINE, {"sgd": DEFAULT_OPTIMIZERS["SGD"]}, 12)["sgd"], axis=0)
    assert np.all(steps[1:, 1] * steps[:-1, 1] < 0)   # the steep coordinate's step changes sign every time
    assert np.all(steps[:, 0] > 0)                    # the shallow one heads for the minimum without turning


def test_adaptive_methods_escape_the_saddle_while_sgd_creeps():
    paths = trajectories(SURFACES["saddle"], {k: DEFAULT_OPTIMIZERS[k] for k in ("SGD", "Adam")}, 20)
    assert abs(paths["SGD"][-1, 1]) < 0.1 and abs(paths["Adam"][-1, 1]) > 1.0


def test_the_noisy_bowl_is_reproducible_by_seed_and_its_noise_has_the_surfaces_spread():
    bowl, alpha = SURFACES["noisy_bowl"], 0.5
    optimizers = {"a": {"name": "sgd", "learning_rate": alpha}, "b": {"name": "sgd", "learning_rate": alpha}}
    first, again, other = (trajectories(bowl, optimizers, 30, seed=seed) for seed in (0, 0, 1))
    np.testing.assert_array_equal(first["a"], again["a"])
    np.testing.assert_array_equal(first["a"], first["b"])   # every optimizer sees the same noise
    assert not np.allclose(first["a"], other["a"])
    path = first["a"]
    # x_{t+1} = x_t − α(∇f(x_t) + n_t), so each step gives back the noise it drew
    noise = (path[:-1] - alpha * np.stack([bowl_gradient(p) for p in path[:-1]]) - path[1:]) / alpha
    assert abs(noise.mean()) < 0.1 and 0.2 < noise.std() < 0.4 and bowl.gradient_noise == 0.3


def test_build_optimizer_validates_the_spec_mapping():
    assert build_optimizer({"name": "sgd", "learning_rate": 0.1, "momentum": 0.9}).momentum == 0.9
    with pytest.raises(ValidationError, match="momentun"):
        build_optimizer({"name": "sgd", "momentun": 0.9})


def test_plot_trajectories_writes_a_png(tmp_path):
    paths = {name: trajectories(surface, DEFAULT_OPTIMIZERS, 3) for name, surface in SURFACES.items()}
    plot_trajectories(paths, tmp_path / "paths.png")
    data = (tmp_path / "paths.png").read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000
