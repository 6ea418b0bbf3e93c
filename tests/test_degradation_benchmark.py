"""The degradation benchmark's bookkeeping (benchmarks/degradation.py); the runs themselves are its business."""

from benchmarks import degradation


def test_training_error_is_one_minus_the_logged_training_accuracy():
    assert degradation.training_error({"accuracy": [0.25, 0.9, 1.0], "loss": [2.0, 0.3, 0.0]}) == [0.75, 0.1, 0.0]


def test_findings_read_the_papers_claims_off_the_curves():
    paper = {"plain-20": [0.5, 0.2, 0.05], "plain-56": [0.8, 0.5, 0.3], "resnet-20": [0.4, 0.1, 0.0],
             "resnet-56": [0.3, 0.05, 0.0]}
    assert all(degradation.findings(paper).values())
    no_degradation = {**paper, "plain-56": [0.4, 0.1, 0.01]}
    found = degradation.findings(no_degradation)
    assert not found["plain-56 ends above plain-20"] and not found["plain-56 above plain-20 on average"]
    assert not degradation.findings({**paper, "resnet-56": [0.9, 0.9, 0.9]})["resnet-56 below both plain networks on average"]


def test_the_four_runs_are_the_two_pipelines_at_two_depths():
    assert degradation.RUNS == {"plain-20": ("architectures/degradation_plain", 20),
                                "plain-56": ("architectures/degradation_plain", 56),
                                "resnet-20": ("architectures/degradation_resnet", 20),
                                "resnet-56": ("architectures/degradation_resnet", 56)}
