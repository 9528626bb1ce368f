"""Edits from the widget (the ``edits`` trait): every view downstream shows the edited run,
tagged as such; earlier layers and the clean run are unchanged; removing the edits gives
back the clean views byte for byte; bad edits raise, show in the widget and change nothing;
and the model is left as found."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import traitlets

import actscope
from actscope.widget import wire
from actscope.widget.contract import edits_tag

from .model_state import assert_unchanged, record

CONV = "features.conv2"
EARLY = "features.conv1"


@pytest.fixture
def ex(explorer):
    explorer.layer = CONV
    explorer.wait(60)
    return explorer


def probs(ex) -> np.ndarray:
    ex.wait(60)
    meta, arrays = wire.decode(ex.outputs_view)
    return arrays["probs"], arrays["ids"], meta, arrays


def by_hand(model, images, index, layer, fn):
    """The model's logits on one image with ``fn`` applied to ``layer``'s output by hand."""
    module = dict(model.named_modules())[layer]
    handle = module.register_forward_hook(lambda _m, _a, out: fn(out.clone()))
    try:
        with torch.no_grad():
            return model(images[index : index + 1])[0]
    finally:
        handle.remove()


def test_ablating_every_channel_changes_the_prediction_as_zeroing_by_hand(ex, digits):
    model, images, _ = digits
    clean_probs, _, clean_meta, _ = probs(ex)
    assert "edits" not in clean_meta
    ex.edits = [{"layer": CONV, "units": None, "positions": None, "op": "scale", "amount": 0}]
    edited, ids, meta, arrays = probs(ex)
    expected = by_hand(model, images, 0, CONV, lambda out: out * 0).softmax(-1)
    np.testing.assert_allclose(edited, expected[ids.astype(int)].numpy(), atol=2e-3)
    # The clean run's probabilities of the same classes travel beside them.
    with torch.no_grad():
        clean_all = model(images[:1])[0].softmax(-1)
    np.testing.assert_allclose(arrays["clean_probs"], clean_all[ids.astype(int)].numpy(), atol=2e-3)
    assert meta["edits"] == edits_tag(ex.edits)
    assert not np.allclose(edited, clean_probs)


def test_a_later_layer_shows_the_edit_an_earlier_one_does_not(ex):
    clean_early = wire.decode(ex._layer_view_blob(EARLY, 0))[1]["act"]
    clean_late = wire.decode(ex._layer_view_blob("classifier.fc1", 0))[1]["act"]
    ex.edits = [{"layer": CONV, "units": [0, 1, 2], "positions": None, "op": "value", "amount": 5}]
    early_meta, early = wire.decode(ex._layer_view_blob(EARLY, 0))
    late_meta, late = wire.decode(ex._layer_view_blob("classifier.fc1", 0))
    np.testing.assert_array_equal(early["act"], clean_early)
    assert not np.allclose(late["act"], clean_late)
    assert early_meta["edits"] == late_meta["edits"] == edits_tag(ex.edits, "edited")
    # The edited layer itself: the three channels are 5 everywhere, the others as they were.
    meta, own = wire.decode(ex.layer_view)
    assert meta["layer"] == CONV
    np.testing.assert_allclose(own["act"][:3], 5.0, atol=1e-2)


def test_removing_the_edits_gives_back_the_clean_views_exactly(ex):
    before = (ex.layer_view, probs(ex)[0].tobytes())
    ex.edits = [{"layer": CONV, "units": [3], "positions": None, "op": "add", "amount": 2.5}]
    probs(ex)
    ex.edits = []
    assert (ex.layer_view, probs(ex)[0].tobytes()) == before
    assert "edits" not in wire.decode(ex.layer_view)[0]


def test_steering_adds_the_amount_and_the_difference_view_shows_just_that(ex):
    clean = wire.decode(ex.layer_view)[1]["act"]
    ex.edits = [{"layer": CONV, "units": [4], "positions": None, "op": "add", "amount": 1.5}]
    edited = wire.decode(ex.layer_view)[1]["act"]
    np.testing.assert_allclose(edited[4], clean[4] + 1.5, atol=1e-2)
    ex.edit_view = "difference"
    meta, diff = wire.decode(ex.layer_view)
    assert meta["edits"] == edits_tag(ex.edits, "difference")
    expected = np.zeros_like(clean)
    expected[4] = 1.5
    np.testing.assert_allclose(diff["act"], expected, atol=1e-2)
    ex.edit_view = "clean"
    np.testing.assert_allclose(wire.decode(ex.layer_view)[1]["act"], clean, atol=1e-6)


def test_an_edit_at_one_position_changes_only_that_position(ex):
    clean = wire.decode(ex.layer_view)[1]["act"]  # (C, H, W)
    width = clean.shape[2]
    ex.edits = [{"layer": CONV, "units": [0], "positions": [width + 1], "op": "value", "amount": 9}]
    edited = wire.decode(ex.layer_view)[1]["act"]
    changed = np.argwhere(~np.isclose(edited, clean, atol=1e-3))
    assert changed.tolist() == [[0, 1, 1]]
    assert edited[0, 1, 1] == pytest.approx(9.0, abs=1e-2)


def test_add_edit_ablates_the_selected_unit(ex):
    ex.unit = 2
    ex.add_edit()
    assert ex.edits == [
        {"layer": CONV, "units": [2], "positions": None, "op": "scale", "amount": 0}
    ]
    np.testing.assert_allclose(wire.decode(ex.layer_view)[1]["act"][2], 0.0)


@pytest.mark.parametrize(
    ("edit", "error", "says"),
    [
        ({"layer": "features.cnv2", "op": "scale"}, actscope.LayerNotFoundError, "features.conv2"),
        ({"layer": CONV, "units": [99], "op": "scale"}, actscope.InputError, "0 to"),
        ({"layer": CONV, "op": "multiply"}, actscope.InputError, "scale, value, add"),
        ({"layer": CONV, "op": "value", "amount": float("nan")}, actscope.InputError, "finite"),
        ({"layer": CONV, "op": "add", "amount": 1}, actscope.InputError, "needs the units"),
        ({"layer": CONV, "positions": [10_000]}, actscope.InputError, "positions"),
        ({"layer": CONV, "unit": 3}, actscope.InputError, "Unknown keys"),
    ],
)
def test_a_bad_edit_raises_names_the_fix_and_changes_nothing(ex, edit, error, says):
    good = [{"layer": CONV, "units": [1], "positions": None, "op": "scale", "amount": 0}]
    ex.edits = good
    view = ex.layer_view
    with pytest.raises(error, match=says) as caught:
        ex.edits = [*good, edit]
    assert isinstance(caught.value, traitlets.TraitError)
    assert ex.edits == good
    assert ex.layer_view == view
    assert ex.status["state"] == "error"
    assert says in ex.status["message"]


def test_amounts_are_normalised_so_that_both_sides_write_the_same_tag(ex):
    ex.edits = [{"layer": CONV, "units": 3, "op": "value", "amount": 2.0}]
    assert ex.edits[0]["amount"] == 2 and isinstance(ex.edits[0]["amount"], int)
    assert ex.edits[0]["units"] == [3] and ex.edits[0]["positions"] is None
    ex.edits = [{"layer": CONV, "units": [3, 1, 3], "op": "value", "amount": 1 / 3}]
    assert ex.edits[0]["amount"] == 0.3333 and ex.edits[0]["units"] == [1, 3]


def test_edits_leave_the_model_as_found(digits):
    model, images, labels = digits
    state = record(model)
    ex = actscope.Explorer(model, images, labels=labels, layer=CONV)
    ex.edits = [{"layer": CONV, "units": [0], "op": "scale", "amount": 0}]
    ex.saliency_method = "gradient"
    ex.wait(60)
    ex.edits = []
    ex.wait(60)
    assert_unchanged(model, state)


def test_a_snapshot_holds_the_edited_views_and_the_page_the_edits(ex, tmp_path):
    ex.edits = [{"layer": CONV, "units": [0], "op": "scale", "amount": 0}]
    ex.snapshot(layers=[CONV, "classifier.fc1"], inputs=[0, 1])
    ex.to_html(tmp_path / "edited.html")
    container, arrays = wire.decode(ex.snapshot_data)
    keys = container["keys"]
    downstream = [n for n, k in enumerate(keys) if k.split("|")[0] in ("layer_view", "outputs")]
    assert len(downstream) == 2 * 2 + 2
    tags = {wire.read_meta(arrays[f"e{n}"].tobytes()).get("edits") for n in downstream}
    assert tags == {edits_tag(ex.edits)}
    assert '"edits"' in (tmp_path / "edited.html").read_text()


def test_the_edits_figure_compares_the_runs(ex):
    ex.edits = [{"layer": CONV, "units": None, "op": "scale", "amount": 0}]
    fig = ex.figure(view="edits")
    names = [trace.name for trace in fig.data]
    assert names == ["clean", "edited"]
    assert f"{CONV} · every unit · × 0" in fig.layout.title.text
    edited, _, _, arrays = probs(ex)
    np.testing.assert_allclose(fig.data[1].y, edited[: len(fig.data[1].y)], atol=2e-3)
    np.testing.assert_allclose(
        fig.data[0].y, arrays["clean_probs"][: len(fig.data[0].y)], atol=2e-3
    )


def test_the_layer_figure_follows_the_edit_view(ex):
    ex.edits = [{"layer": CONV, "units": [4], "op": "add", "amount": 1.5}]
    ex.edit_view = "difference"
    fig = ex.figure()
    assert "difference" in fig.layout.title.text
    peaks = [np.nanmax(np.abs(np.asarray(trace.z, dtype=float))) for trace in fig.data]
    assert max(peaks) == pytest.approx(1.5, abs=1e-3)
    assert sorted(peaks)[-2] == pytest.approx(0.0, abs=1e-3)  # one channel changed alone


def test_a_quick_outputs_view_is_made_at_once_and_a_slow_one_in_a_job(ex, monkeypatch):
    started: list[str] = []
    start = ex._jobs.start

    def recorded(name, *args, **kwargs):
        started.append(name)
        start(name, *args, **kwargs)

    monkeypatch.setattr(ex._jobs, "start", recorded)
    ex.__dict__["_outputs_seconds"] = 0.001  # the last view took a millisecond
    ex.add_edit("scale", 0.0, units=[0, 1, 2])
    assert "outputs" not in started
    assert wire.decode(ex.outputs_view)[0]["edits"] == edits_tag(ex.edits)
    ex.__dict__["_outputs_seconds"] = 5.0  # the last view took seconds
    ex.edits = []
    assert "outputs" in started
    ex.wait(60)
    assert "edits" not in wire.decode(ex.outputs_view)[0]
