"""Loss curves from metrics.jsonl rows and the progress sentence from status.json."""

import numpy as np
import pandas as pd

from crl.viz.curves import loss_curves, progress_text


def _nested(n: int = 5) -> pd.DataFrame:
    rows = []
    for e in range(n):
        rows.append(
            {
                "epoch": e,
                "step": 10 * (e + 1),
                "lr": 1e-3,
                "train": {
                    "total": 3.0 - e * 0.1,
                    "reconstruction": 2.0,
                    "reconstruction.sleep": 1.0,
                    "likelihood": -0.5,
                },
                "validation": {"total": 3.2 - e * 0.1, "reconstruction": 2.1, "likelihood": -0.4},
                "validation_loss": 3.2 - e * 0.1,
            }
        )
    return pd.DataFrame(rows)


def test_one_line_per_term_with_validation_dashed_in_the_same_colour():
    fig = loss_curves(_nested())
    names = [t.name for t in fig.data]
    assert names == [
        "Total loss",
        "Reconstruction error",
        "Reconstruction: sleep",
        "Causal prior",
        "Total loss (validation)",
        "Reconstruction error (validation)",
        "Causal prior (validation)",
    ]  # validation_loss duplicates validation.total and is dropped; lr/epoch/step are not losses
    by_name = {t.name: t for t in fig.data}
    assert by_name["Total loss (validation)"].line.dash == "dash"
    assert by_name["Total loss"].line.dash == "solid"
    assert by_name["Total loss"].line.color == by_name["Total loss (validation)"].line.color
    assert by_name["Total loss"].legendgroup == by_name["Total loss (validation)"].legendgroup
    assert by_name["Reconstruction: sleep"].visible == "legendonly"
    assert list(by_name["Total loss"].x) == [10, 20, 30, 40, 50]
    assert fig.layout.xaxis.title.text == "Training step"


def test_flat_columns_and_sparse_validation_rows():
    frame = pd.DataFrame(
        {
            "step": [1, 2, 3, 4],
            "total": [4.0, 3.0, 2.0, 1.0],
            "sparsity": [0.1, 0.1, 0.1, 0.1],
            "validation_loss": [np.nan, 3.5, np.nan, 1.5],
        }
    )
    fig = loss_curves(frame)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"Total loss", "Sparsity penalty", "Total loss (validation)"}
    assert list(by_name["Total loss (validation)"].x) == [2, 4]  # only rows where it was logged


def test_log_scale_notes_terms_it_cannot_draw():
    fig = loss_curves(_nested(), log_y=True)
    assert fig.layout.yaxis.type == "log"
    assert any("Causal prior" in a.text for a in fig.layout.annotations)
    assert not loss_curves(_nested()).layout.annotations


def test_empty_metrics_give_a_message_not_an_error():
    fig = loss_curves(pd.DataFrame())
    assert len(fig.data) == 0 and "No training metrics yet" in fig.layout.annotations[0].text


def test_progress_text_in_each_state():
    running = progress_text(
        {"state": "running", "device": "cuda", "progress": {"epoch": 12, "epochs": 200}, "eta_seconds": 200}
    )
    assert "cuda" in running and "epoch 12 of 200" in running and "6 %" in running and "3 min 20 s" in running
    assert progress_text({"state": "running", "progress": 0.5}).startswith("Training (50 %)")
    done = progress_text({"state": "done", "elapsed": 3725, "best_validation_loss": 1.25, "best_epoch": 9})
    assert "1 h 02 min" in done and "1.25" in done and "epoch 9" in done
    assert progress_text({"state": "failed", "error": "CUDA out of memory"}).endswith("CUDA out of memory")
    assert "no reason" in progress_text({"state": "failed"})
    assert progress_text({"state": "queued"}) == "Waiting to start."
    assert "epoch 3 of 10" in progress_text({"state": "stopped", "epoch": 3, "epochs": 10})
    assert progress_text({}) == "Status: unknown."


def test_progress_text_names_the_restart_training_and_the_one_kept():
    running = {"state": "running", "epoch": 130, "epochs": 400, "restart": 1, "restart_count": 4}
    assert "restart 2 of 4, epoch 130 of 400" in progress_text(running)
    restarts = [{"restart": k, "seed": 7 + k, "best_validation_loss": 2.0 - k} for k in range(3)]
    done = {
        "state": "done",
        "best_validation_loss": 0.5,
        "best_epoch": 40,
        "restarts": restarts,
        "kept_restart": 2,
    }
    assert "best validation loss 0.5, from restart 3 of 3, seed 9." in progress_text(done)
    single = {**done, "restarts": restarts[:1], "kept_restart": 0}
    assert "(epoch 40)" in progress_text(single) and "restart" not in progress_text(single)


def test_each_restart_begins_at_a_marked_line_and_is_not_plotted_as_a_loss():
    rows = pd.DataFrame(
        {
            "step": [10, 20, 30, 40, 50, 60],
            "restart": [0, 0, 1, 1, 2, 2],
            "total": [3.0, 2.0, 3.1, 2.1, 3.2, 2.2],
        }
    )
    fig = loss_curves(rows)
    assert [trace.name for trace in fig.data] == ["Total loss"]
    assert [shape.x0 for shape in fig.layout.shapes] == [30.0, 50.0]
    assert [a.text for a in fig.layout.annotations if a.text.startswith("restart")] == [
        "restart 2",
        "restart 3",
    ]
    assert not loss_curves(rows.drop(columns="restart")).layout.shapes


def test_term_names_from_modality_names_are_escaped():
    payload = "<script>alert(1)</script>"
    fig = loss_curves(pd.DataFrame({"step": [1, 2], f"reconstruction.{payload}": [1.0, 0.5]}))
    assert fig.data[0].name == "Reconstruction: &lt;script&gt;alert(1)&lt;/script&gt;"


def test_runs_compared_in_one_chart_a_colour_each_validation_dashed():
    from crl.viz.curves import compare_curves

    fig = compare_curves([("first", _nested()), ("second", _nested(3)), ("empty", pd.DataFrame())])
    names = [t.name for t in fig.data]
    assert names == ["first", "first (validation)", "second", "second (validation)"]
    first, first_validation, second, _ = fig.data
    assert first.line.color == first_validation.line.color != second.line.color
    assert first_validation.line.dash == "dash" and first.line.dash == "solid"
    assert not first_validation.showlegend  # one legend entry per run toggles both of its lines
    assert list(first.y) == [3.0 - e * 0.1 for e in range(5)]
    assert fig.layout.xaxis.title.text == "Training step"


def test_compared_runs_without_losses_give_a_plain_message():
    from crl.viz.curves import compare_curves

    fig = compare_curves([("empty", pd.DataFrame())])
    assert not fig.data
    assert "None of these runs" in fig.layout.annotations[0].text
