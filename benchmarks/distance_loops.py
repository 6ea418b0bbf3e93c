"""The vectorisation lesson of the k-NN chapter: the L2 distance matrix with two loops, one loop and none.

CS231n's first assignment computes the Euclidean distances between every test and every
training image three ways and times them: two Python loops over (test, train) pairs, one loop
over test images broadcasting against the whole training set, and no loop at all, from
‖a − b‖² = ‖a‖² − 2a·b + ‖b‖² with one matrix multiply. The no-loop version here is the
library's own, `kerascv_suite.models.knn.pairwise_distances` (squared distances, so its square
root), which the `knn` model uses; the loops are NumPy, as the assignment writes them. All three
are checked against `scipy.spatial.distance.cdist` before anything is timed.

The data are scikit-learn's 8×8 digits flattened to 64 values: the first `--train` images are
the training set and the next `--test` the test set. Each round times the three, in an order
that alternates (A B C, then C B A), so the machine's drift (±30% here) hits them alike; the
report gives each method's median seconds and its ratio to the no-loop median, with the ratio's
range round by round, and the CPU's vector extensions, which decide how fast the matrix multiply is.

    python -m benchmarks.distance_loops                         # benchmarks/results/distance_loops.{json,md}
    python -m benchmarks.distance_loops --test 50 --train 100 --rounds 2 --out /tmp/loops
"""

from __future__ import annotations

import argparse
import json
import os
import time
import timeit
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits

from benchmarks.runs import RESULTS, machine
from benchmarks.speed import paired_ratio, spread
from benchmarks.structured_pipeline import cpu_flags
from kerascv_suite.models.knn import pairwise_distances


def two_loops(test: np.ndarray, train: np.ndarray) -> np.ndarray:
    """dists[i, j] = ‖test[i] − train[j]‖, one pair at a time."""
    dists = np.zeros((len(test), len(train)))
    for i in range(len(test)):
        for j in range(len(train)):
            dists[i, j] = np.sqrt(np.sum((test[i] - train[j]) ** 2))
    return dists


def one_loop(test: np.ndarray, train: np.ndarray) -> np.ndarray:
    """One row of distances per test image, broadcast against every training image at once."""
    dists = np.zeros((len(test), len(train)))
    for i in range(len(test)):
        dists[i, :] = np.sqrt(np.sum((train - test[i]) ** 2, axis=1))
    return dists


def no_loops(test: np.ndarray, train: np.ndarray) -> np.ndarray:
    """The library's ‖a‖² − 2a·b + ‖b‖² (one matrix multiply), square-rooted."""
    return np.sqrt(np.asarray(pairwise_distances(test, train, "l2")))


METHODS = {"two_loops": two_loops, "one_loop": one_loop, "no_loops": no_loops}


def check_against_cdist(test: np.ndarray, train: np.ndarray) -> dict[str, float]:
    """Each method's largest absolute difference from SciPy's `cdist`; raises if any is not within 1e-6."""
    reference = cdist(test, train)
    errors = {name: float(np.abs(method(test, train) - reference).max()) for name, method in METHODS.items()}
    wrong = {name: error for name, error in errors.items() if not error <= 1e-6}
    if wrong:
        raise AssertionError(f"distances differ from scipy's cdist: {wrong}")
    return errors


def time_rounds(test: np.ndarray, train: np.ndarray, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each method, one figure per round, the order alternating round by round.

    A round times as many calls of a method as last at least 0.2 s together (`timeit`'s
    autorange, measured once beforehand), so the millisecond no-loop version is not one
    scheduler tick's worth of noise.
    """
    timers = {name: timeit.Timer(lambda method=method: method(test, train)) for name, method in METHODS.items()}
    calls = {name: timer.autorange()[0] for name, timer in timers.items()}
    seconds: dict[str, list[float]] = {name: [] for name in METHODS}
    for index in range(rounds):
        for name in (list(METHODS) if index % 2 == 0 else list(METHODS)[::-1]):
            seconds[name].append(timers[name].timeit(calls[name]) / calls[name])
    return seconds


def summarise(seconds: dict[str, list[float]]) -> dict:
    """Per method: the spread of its seconds and its ratio to the no-loop version (median over median, range by round).

    Example::

        summarise({"two_loops": [4.0, 6.0], "one_loop": [1.0, 1.0], "no_loops": [0.5, 0.5]})["two_loops"]["ratio"]   # 10.0
    """
    baseline = [[s] for s in seconds["no_loops"]]
    return {name: {"seconds": spread(values), **paired_ratio([[s] for s in values], baseline)}
            for name, values in seconds.items()}


def markdown(report: dict) -> str:
    """The report as a Markdown table."""
    lines = [f"# L2 distance matrix: two loops, one loop, no loops ({report['date']})", "",
             f"{report['test']} test × {report['train']} training digits (8×8, {report['dimensions']} values, float64), "
             f"{report['rounds']} interleaved rounds. Machine: {report['machine']}; load average {report['load_average']} "
             f"at the start; CPU flags: {', '.join(report['cpu_flags']) or 'none of avx2/avx512/amx'}.", "",
             "Picture: `distance_loops.png`.", "",
             "| method | median seconds per call | min – max | × no loops (range by round) | max \\|Δ\\| vs cdist |",
             "|---|---:|---:|---:|---:|"]
    for name, row in report["methods"].items():
        s = row["seconds"]
        lines.append(f"| {name.replace('_', ' ')} | {s['median']:.4g} | {s['min']:.4g} – {s['max']:.4g} | "
                     f"{row['ratio']:.1f} ({row['min']:.1f} – {row['max']:.1f}) | {report['max_error'][name]:.1e} |")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    """Median seconds per call of each method on a log scale, each round's time as a dot, the ratios written on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["methods"])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for index, name in enumerate(names):
        row = report["methods"][name]
        ax.bar(index, row["seconds"]["median"], color="tab:blue", alpha=0.7)
        ax.text(index, row["seconds"]["median"] * 1.3, f"{row['ratio']:.1f}× no loops", ha="center", fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), [name.replace("_", " ") for name in names])
    ax.set_ylabel("seconds per call (median, log scale)")
    ax.set_title(f"L2 distances, {report['test']} test × {report['train']} training digits, {report['rounds']} rounds "
                 f"({report['date']})", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    images = load_digits().data.astype("float64")
    if args.train + args.test > len(images):
        parser.error(f"--train + --test is at most {len(images)}, the number of digits")
    train, test = images[:args.train], images[args.train:args.train + args.test]
    load_average = round(os.getloadavg()[0], 2)
    max_error = check_against_cdist(test, train)  # also the warm-up: TensorFlow's first matmul is slower
    report = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "cpu_flags": cpu_flags(), "numpy": np.__version__,
              "load_average": load_average, "test": len(test), "train": len(train), "dimensions": images.shape[1],
              "rounds": args.rounds, "max_error": max_error, "methods": summarise(time_rounds(test, train, args.rounds))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "distance_loops.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "distance_loops.md").write_text(markdown(report))
    plot(report, args.out / "distance_loops.png")
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
