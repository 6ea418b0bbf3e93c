"""Reading a run's history.csv: resumed epochs, and runs without a validation split."""

import math

from kerascv_suite.viz.plots import read_history


def test_read_history_keeps_the_last_row_of_an_epoch_and_leaves_out_columns_logged_as_na(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss,accuracy\n0,2.0,NA,0.5\n1,1.5,NA,NA\n1,1.4,NA,0.7\n")
    history = read_history(path)
    assert history["epoch"] == [0, 1] and history["loss"] == [2.0, 1.4]  # epoch 1 again after a resume: its last row
    assert "val_loss" not in history                                         # no validation split: Keras writes NA
    assert history["accuracy"] == [0.5, 0.7]
    path.write_text("epoch,loss\n0,NA\n1,1.0\n")
    assert math.isnan(read_history(path)["loss"][0])
