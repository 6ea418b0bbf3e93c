"""The `kcv activations`, `kcv compare` and `kcv ensemble` commands, called in process through `main`."""

import json

import pytest

from kerascv_suite.cli import main
from tests.conftest import PIPELINES
from tests.viz.test_compare import fake_run

TANH = str(PIPELINES / "training" / "activations_tanh.yaml")
SOFTMAX = str(PIPELINES / "classification" / "softmax.yaml")


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_activations_prints_the_table_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["activations", TANH, "--set", "model.hidden=[64, 64, 64, 64]", "--init", "small_gaussian",
                 "--init", "glorot_normal", "--batch", "100", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    std_rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in printed[2:4]}
    assert printed[1].split() == ["std", "hidden1", "hidden2", "hidden3", "hidden4"]
    assert std_rows["small_gaussian"][-1] < 0.01 * std_rows["small_gaussian"][0]
    assert std_rows["glorot_normal"][-1] > 0.3 * std_rows["glorot_normal"][0]
    assert printed[-1] == f"wrote {out}/ (activations.png, activations.md, activations.json)"
    saved = json.loads((out / "activations.json").read_text())
    assert {r["initializer"] for r in saved["statistics"]} == {"small_gaussian", "glorot_normal"}
    assert (out / "activations.png").stat().st_size > 0 and (out / "activations.md").is_file()


def test_activations_of_a_model_without_hidden_layers_is_a_one_line_error(tmp_path, capsys):
    assert main(["activations", str(PIPELINES / "classification" / "lenet5.yaml"), "--runs-dir", str(tmp_path)]) == 2
    assert "model 'lenet5' has no kernel_initializer argument" in _one_line_error(capsys)
    assert not any(tmp_path.iterdir())


def test_activations_refuses_a_folder_with_files_in_it(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep")
    assert main(["activations", TANH, "--set", "model.hidden=[8]", "--init", "he_normal", "--batch", "10",
                 "--out", str(tmp_path)]) == 2
    assert "never overwritten" in _one_line_error(capsys)


@pytest.fixture
def optimizer_runs(tmp_path):
    return [str(fake_run(tmp_path / "sgd", "{name: sgd, momentum: 0.9}", [0.5, 0.7, 0.8], learning_rate=0.01)),
            str(fake_run(tmp_path / "adam", "{name: adam}", [0.8, 0.95, 0.9]))]


def test_compare_writes_the_png_and_prints_final_and_best_metrics(optimizer_runs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", *optimizer_runs]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (tmp_path / "compare.png").stat().st_size > 0 and lines[-1] == "wrote compare.png"
    assert lines[1].startswith("mlp_digits sgd lr=0.01 momentum=0.9 ") and lines[1].split()[4:] == ["3", "1.3000", "1.3000", "(3)", "0.8000", "0.8000", "(3)"]
    assert lines[2].startswith("mlp_digits adam lr=0.001 ") and "0.9500 (2)" in lines[2]
    assert main(["compare", *optimizer_runs]) == 2
    assert "compare.png already exists; pass --force" in _one_line_error(capsys)
    assert main(["compare", *optimizer_runs, "--force", "--label", "SGD+momentum", "--label", "Adam"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("SGD+momentum ")


def test_compare_of_a_folder_without_history_is_a_one_line_error(optimizer_runs, tmp_path, capsys):
    assert main(["compare", optimizer_runs[0], str(tmp_path), "--out", str(tmp_path / "c.png")]) == 2
    assert "no history.csv" in _one_line_error(capsys)
    assert not (tmp_path / "c.png").exists()


def test_ensemble_of_two_trained_runs(tmp_path, capsys):
    for seed in (0, 1):
        assert main(["run", SOFTMAX, "--set", "train.epochs=1", "--set", f"train.seed={seed}", "--runs-dir", str(tmp_path), "--new"]) == 0
    runs = sorted(str(p) for p in (tmp_path / "softmax_digits").iterdir())
    capsys.readouterr()
    out = tmp_path / "ensemble"
    assert main(["ensemble", *runs, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    saved = json.loads((out / "ensemble.json").read_text())
    assert lines[-2].split()[:3] == ["ensemble", "of", "2"] and float(lines[-2].split()[3]) == pytest.approx(saved["ensemble"]["accuracy"], abs=1e-4)
    for run, member in zip(runs, saved["members"]):
        assert member["accuracy"] == pytest.approx(json.loads((tmp_path / run / "metrics.json").read_text())["test"]["accuracy"])
    assert main(["ensemble", runs[0]]) == 2
    assert "at least two" in _one_line_error(capsys)
    assert main(["ensemble", *runs, "--out", str(out)]) == 2
    assert "never overwritten" in _one_line_error(capsys)
