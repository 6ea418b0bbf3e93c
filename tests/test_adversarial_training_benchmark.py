"""The adversarial-training benchmark's bookkeeping (benchmarks/adversarial_training.py); the runs themselves are its business."""

from benchmarks import adversarial_training


def rows(accuracies: dict) -> list[dict]:
    """`attack_report`-shaped rows from {(attack, ε): adversarial accuracy}."""
    return [{"attack": attack, "epsilon": eps, "adversarial_accuracy": value} for (attack, eps), value in accuracies.items()]


PLAIN = rows({("FGSM", 0.0): 0.98, ("PGD", 0.0): 0.98, ("FGSM", 0.1): 0.40, ("PGD", 0.1): 0.20})
ROBUST = rows({("FGSM", 0.0): 0.97, ("PGD", 0.0): 0.97, ("FGSM", 0.1): 0.80, ("PGD", 0.1): 0.70})


def test_the_table_has_one_row_per_epsilon_with_each_models_accuracy_per_attack():
    table = adversarial_training.accuracy_table({"plain": PLAIN, "adversarial": ROBUST})
    assert table == [
        {"epsilon": 0.0, "plain FGSM": 0.98, "plain PGD": 0.98, "adversarial FGSM": 0.97, "adversarial PGD": 0.97},
        {"epsilon": 0.1, "plain FGSM": 0.40, "plain PGD": 0.20, "adversarial FGSM": 0.80, "adversarial PGD": 0.70},
    ]


def test_findings_read_the_claims_off_the_table():
    found = adversarial_training.findings(adversarial_training.accuracy_table({"plain": PLAIN, "adversarial": ROBUST}), 0.1)
    assert all(found.values())
    swapped = adversarial_training.findings(adversarial_training.accuracy_table({"plain": ROBUST, "adversarial": PLAIN}), 0.1)
    assert not swapped["PGD accuracy at ε = 0.1 is higher after adversarial training"]
    costly = rows({("FGSM", 0.0): 0.90, ("PGD", 0.0): 0.90, ("FGSM", 0.1): 0.80, ("PGD", 0.1): 0.70})
    found = adversarial_training.findings(adversarial_training.accuracy_table({"plain": PLAIN, "adversarial": costly}), 0.1)
    assert not found["clean accuracy stays within 2% of the plain model's"]
    assert found["PGD accuracy at ε = 0.1 is higher after adversarial training"]
    weak_pgd = rows({("FGSM", 0.0): 0.98, ("PGD", 0.0): 0.98, ("FGSM", 0.1): 0.40, ("PGD", 0.1): 0.50})
    assert not adversarial_training.findings(adversarial_training.accuracy_table({"plain": weak_pgd, "adversarial": ROBUST}),
                                             0.1)["PGD is at least as strong as FGSM on both models"]


def test_both_runs_are_the_lenet5_pipelines():
    assert adversarial_training.PIPELINES == {"plain": "classification/lenet5",
                                              "adversarial": "understanding/adversarial_training_lenet5"}
