"""The explorer's saliency panel from Python, and the background jobs behind it."""

from __future__ import annotations

import threading
import time

import pytest
import torch

import actscope
from actscope.widget import sharing, wire
from actscope.widget.jobs import Cancelled, Jobs, Progress


def test_the_panel_shows_the_engines_map(explorer, digits):
    model, images, _ = digits
    explorer.input_index = 3
    explorer.saliency_method = "input_x_gradient"
    meta, arrays = wire.decode(explorer.saliency_view)
    assert meta["key"] == "3|input_x_gradient|top"
    assert meta["over"] == "pixels"
    expected = actscope.saliency(model, images[3:4], "input_x_gradient")[0].sum(0)
    assert torch.allclose(
        torch.from_numpy(arrays["map"]), expected, atol=1e-3 * expected.abs().max()
    )
    assert arrays["image"].shape == (8, 8, 3)
    assert explorer.job["state"] == "done"


def test_it_follows_the_input_the_target_and_the_unit(explorer):
    explorer.saliency_method = "gradient"
    explorer.input_index = 5
    assert wire.decode(explorer.saliency_view)[0]["key"] == "5|gradient|top"
    explorer.saliency_target = {"type": "class", "index": 7}
    assert wire.decode(explorer.saliency_view)[0]["key"] == "5|gradient|class:7"
    explorer.saliency_target = {"type": "unit"}
    meta, _ = wire.decode(explorer.saliency_view)
    assert "Select a unit" in meta["error"]
    explorer.unit = 4
    meta, arrays = wire.decode(explorer.saliency_view)
    assert meta["key"] == "5|gradient|unit:features.conv1:4"
    assert meta["target"] == "unit 4 of features.conv1"
    assert arrays["map"].shape == (8, 8)


def test_integrated_gradients_reports_its_delta_and_grad_cam_uses_the_layer(explorer):
    explorer.saliency_method = "integrated_gradients"
    meta, _ = wire.decode(explorer.saliency_view)
    assert meta["delta"] is not None
    assert meta["delta"] < 0.2
    explorer.layer = "features.conv3"
    explorer.saliency_method = "grad_cam"
    meta, arrays = wire.decode(explorer.saliency_view)
    assert arrays["map"].shape == (8, 8)


def test_text_gets_one_score_per_token(minilm, sentences):
    model, tokenizer = minilm
    ex = actscope.Explorer(
        model, sentences[:2], tokenizer=tokenizer, layer="encoder.layer.3.intermediate"
    )
    ex.unit = 11
    ex.saliency_target = {"type": "unit"}
    ex.saliency_method = "gradient"
    meta, arrays = wire.decode(ex.saliency_view)
    assert meta["over"] == "tokens"
    assert len(arrays["map"]) == len(meta["tokens"]) == 15


def test_targets_and_methods_are_validated(explorer):
    """Structured targets only: a bad one raises, shows, and leaves the last good value."""
    explorer.saliency_target = {"type": "class", "index": 2}
    for bad in ("class:7", {"type": "class", "index": -1}, {"type": "top", "extra": 1}):
        with pytest.raises(actscope.InputError, match="saliency_target"):
            explorer.saliency_target = bad
        assert explorer.saliency_target == {"type": "class", "index": 2}
        assert explorer.status["state"] == "error"
    with pytest.raises(actscope.InputError, match="Did you mean 'gradient'"):
        explorer.saliency_method = "gradiant"
    assert explorer.saliency_method == ""


def test_a_snapshot_carries_saliency_maps(explorer):
    explorer.snapshot(layers=["features.conv1"], inputs=[0, 1], units=[2], saliency=["gradient"])
    keys = set(sharing.unpack(explorer.snapshot_data))
    assert {"saliency|0|gradient|top", "saliency|1|gradient|unit:features.conv1:2"} <= keys


def test_jobs_cancel_at_the_next_progress_report():
    statuses = []
    jobs = Jobs(statuses.append)
    steps = []
    started = threading.Event()

    def work(progress):
        for i in range(1000):
            started.set()
            progress.update(i, 1000)
            steps.append(i)
            time.sleep(0.005)
        return "finished"

    results, errors = [], []
    jobs.start("mining", work, results.append, errors.append, background=True)
    started.wait(5)
    jobs.cancel()
    jobs.wait(5)
    assert results == []
    assert errors == []
    assert statuses[-1]["state"] == "cancelled"
    assert len(steps) < 1000


def test_jobs_report_errors_and_results():
    statuses = []
    jobs = Jobs(statuses.append)
    errors = []
    jobs.start("saliency", lambda p: 1 / 0, lambda r: None, errors.append)
    assert isinstance(errors[0], ZeroDivisionError)
    assert statuses[-1]["state"] == "error"
    results = []
    jobs.start("saliency", lambda p: 42, results.append, errors.append)
    assert results == [42]
    assert statuses[-1]["state"] == "done"
    progress = Progress(post=lambda s: None, name="x")
    progress.cancel_event.set()
    with pytest.raises(Cancelled):
        progress.check()
