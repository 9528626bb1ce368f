"""The explorer with lenses: features under their layer in the tree, their view equal to the
encoded activations, called features in views and figures, mined from the widget, edited
(downstream views change as the decoder says), in snapshots; a mistyped feature layer
names the closest one; the model left as found."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import traitlets

import actscope
from actscope.widget import wire

from . import tiny_lms
from .model_state import assert_unchanged, record
from .test_lenses import BLOCK, FEATURES, TinySAE, block_output

one_thread = tiny_lms.one_thread
gpt2 = tiny_lms.gpt2


def texts(n=4, t=10):
    return tiny_lms.random_texts(n, t, seed=11)


@pytest.fixture
def ex(gpt2):
    data = texts(12)
    explorer = actscope.Explorer(gpt2, texts(), dataset=data, lenses=[TinySAE()])
    explorer.layer = FEATURES
    explorer.wait(60)
    return explorer


def features_of(gaps, counts):
    """Each position's feature indices from LEB128 gaps (the wire's ``sp_gaps``), read one
    byte at a time."""
    rows, at = [], 0
    for count in counts:
        row, f = [], -1
        for _ in range(count):
            gap, shift = 0, 0
            while True:
                byte = int(gaps[at])
                at += 1
                gap |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            f += gap + 1
            row.append(f)
        rows.append(row)
    assert at == len(gaps)
    return rows


def dense(meta, arrays):
    """A view's values as (T, F), from the dense or the sparse encoding."""
    if "sp_counts" not in arrays:
        return arrays["act"].reshape(meta["shape"])
    rows = features_of(arrays["sp_gaps"], arrays["sp_counts"])
    out = np.zeros((len(rows), meta["shape"][1]), np.float32)
    vals = iter(arrays["sp_vals"])
    for t, row in enumerate(rows):
        for f in row:
            out[t, f] = next(vals)
    return out


def view(ex):
    ex.wait(60)
    meta, arrays = wire.decode(ex.layer_view)
    return meta, dense(meta, arrays)


def test_features_are_a_layer_under_theirs_and_their_view_is_the_encoding(ex, gpt2):
    names = [info["name"] for info in ex.layers_info]
    assert names[names.index(FEATURES) - 1] == BLOCK
    info = ex.layers_info[names.index(FEATURES)]
    assert (info["features_of"], info["n_units"], info["type"]) == (BLOCK, 256, "TinySAE")
    meta, act = view(ex)
    assert meta["layer"] == FEATURES
    sae = TinySAE()  # the same seed: the explorer's weights
    x = ex.session.inputs.batch([0])["input_ids"]
    expected = sae.encode(block_output(gpt2, x))[0].detach()
    torch.testing.assert_close(
        torch.as_tensor(act), expected, atol=2e-3, rtol=2e-3
    )  # the wire sends float16


def test_sparse_features_travel_as_gaps_between_indices_and_values(gpt2):
    sparse_sae = TinySAE(n=4096, seed=4)
    with torch.no_grad():
        sparse_sae.b_enc.fill_(-0.075)  # about 1% of 4,096 active per token, as in trained SAEs
    explorer = actscope.Explorer(gpt2, texts(2), lenses=[sparse_sae], layer=FEATURES)
    meta, arrays = wire.decode(explorer.layer_view)
    assert "act" not in arrays
    assert arrays["sp_counts"].dtype == np.uint16
    x = explorer.session.inputs.batch([0])["input_ids"]
    expected = sparse_sae.encode(block_output(gpt2, x))[0].detach()
    active = int((expected != 0).sum())
    assert meta["sparse"]["active"] == active
    assert 0 < meta["sparse"]["density"] < 0.05
    step = float(expected.max() - expected[expected != 0].min()) / 252  # a byte a value
    got = torch.as_tensor(dense(meta, arrays))
    assert torch.equal(got != 0, expected != 0)
    torch.testing.assert_close(got, expected, atol=step / 2 + 1e-6, rtol=0)
    blob = explorer.layer_view
    specs = json.loads(blob[8 : 8 + int.from_bytes(blob[4:8], "little")])["arrays"]
    assert specs["sp_gaps"]["nbytes"] < 2 * active  # under two bytes an index
    assert specs["sp_vals"]["nbytes"] == active  # a byte a value
    assert len(explorer.layer_view) < 0.1 * len(wire.encode({"act": expected}))
    explorer.close()


def test_the_view_says_how_much_of_its_layer_the_features_explain(ex, gpt2):
    meta, _ = view(ex)
    sae = TinySAE()
    x = ex.session.inputs.batch([0])["input_ids"]
    base = block_output(gpt2, x)[0]
    recon = sae.decode(sae.encode(base)).detach()
    by_hand = 1 - float(((recon - base) ** 2).sum() / ((base - base.mean(0)) ** 2).sum())
    assert meta["explained"] == pytest.approx(by_hand, abs=1e-4)
    encode_only = actscope.Lens(BLOCK, sae.encode, name="enc")
    plain = actscope.Explorer(gpt2, texts(1), lenses=[encode_only], layer=f"{BLOCK}/enc")
    assert "explained" not in wire.decode(plain.layer_view)[0]
    plain.close()


def test_the_figure_of_a_token_lists_its_features_as_the_engine_does(ex, gpt2):
    ex.position = 3
    fig = ex.figure(view="at", k=6)
    x = ex.session.inputs.batch([0])
    found = actscope.units_at(gpt2, x, FEATURES, 3, k=6)
    assert list(fig.data[0].y) == [f"feature {int(u)}" for u in found.units]
    np.testing.assert_allclose(fig.data[0].x, found.max.numpy(), rtol=1e-5)
    assert "(position 3)" in fig.layout.title.text


def test_features_rank_by_the_tokens_they_fire_on_in_the_view_and_its_figure(ex, gpt2):
    _, arrays = wire.decode(ex.layer_view)
    x = ex.session.inputs.batch([0])["input_ids"]
    features = TinySAE().encode(block_output(gpt2, x))[0].detach()
    counts = (features > 0).sum(0)
    units = arrays["rank_count_units"].tolist()
    assert arrays["rank_count_count"].tolist() == counts[units].tolist()
    assert counts[units].tolist() == sorted(counts.tolist(), reverse=True)[: len(units)]
    assert arrays["rank_max_count"].tolist() == counts[arrays["rank_max_units"]].tolist()
    fig = ex.figure(sort="count")  # the heatmap's columns in the same order
    shown = [int(label.split()[-1]) for label in fig.data[0].x]
    assert shown[: len(units)] == units
    with pytest.raises(actscope.InputError, match="'count'"):
        ex.figure(sort="density")


def test_views_and_figures_call_them_features(ex):
    fig = ex.figure()
    assert fig.layout.xaxis.title.text == "feature"
    assert fig.layout.title.text.startswith(FEATURES)
    assert ex.figure(unit=5).layout.title.text.endswith("· feature 5")


def test_editing_a_feature_changes_the_later_views_through_its_decoder(ex, gpt2):
    x = ex.session.inputs.batch([0])["input_ids"]
    _, act = view(ex)
    feature = int(torch.as_tensor(act).amax(0).argmax())
    clean_next = block_output(gpt2, x)
    ex.edits = [{"layer": FEATURES, "units": [feature], "op": "scale", "amount": 0}]
    ex.layer = "transformer.h.1"
    ex.wait(60)
    meta, edited = view(ex)
    assert meta["edits"]
    sae = TinySAE()
    with (
        torch.no_grad(),
        actscope.intervene(gpt2, actscope.Edit(FEATURES, units=[feature], scale=0.0)),
        actscope.capture(gpt2, "transformer.h.1") as acts,
    ):
        gpt2(x)
    torch.testing.assert_close(
        torch.as_tensor(edited), acts["transformer.h.1"][0], atol=2e-3, rtol=2e-3
    )
    f = sae.encode(clean_next)[0, :, feature].detach()
    assert f.abs().max() > 0
    ex.edits = []
    ex.wait(60)
    _, clean = view(ex)
    assert not torch.allclose(torch.as_tensor(clean), torch.as_tensor(edited), atol=1e-5)


def test_mining_features_from_the_widget_fills_the_examples_panel(ex):
    ex.mine(k=3, background=False)
    index = ex.indexes[-1]
    assert FEATURES in index.layers
    ex.unit = 0
    ex.wait(60)
    meta, _ = wire.decode(ex.examples_view)
    assert meta["layer"] == FEATURES
    assert len(meta["top"]) == 3


def test_a_snapshot_holds_the_feature_view(ex, tmp_path):
    ex.snapshot(layers=[FEATURES], inputs=[0])
    container, _ = wire.decode(ex.snapshot_data)
    assert any(FEATURES in k for k in container["keys"])
    page = ex.to_html(tmp_path / "features.html")
    assert FEATURES in page.read_text()


def test_a_mistyped_feature_layer_names_the_closest_and_changes_nothing(ex):
    with pytest.raises(traitlets.TraitError, match=r"transformer\.h\.0/sae"):
        ex.layer = "transformer.h.0/sea"
    assert ex.layer == FEATURES
    assert ex.status["state"] == "error"


def test_the_explorer_with_lenses_leaves_the_model_as_found(gpt2):
    before = record(gpt2)
    explorer = actscope.Explorer(gpt2, texts(2), lenses=[TinySAE()])
    explorer.layer = FEATURES
    explorer.edits = [{"layer": FEATURES, "units": [1], "op": "scale", "amount": 0}]
    explorer.wait(60)
    assert_unchanged(gpt2, before)


def test_feature_indices_travel_as_gaps_of_one_two_or_three_bytes():
    from actscope.widget.sparse import varint_gaps

    g = torch.Generator().manual_seed(3)
    rows = [sorted(torch.randperm(65_535, generator=g)[:n].tolist()) for n in (0, 1, 40, 3, 0)]
    rows.append([0, 1, 127, 128, 16_383, 16_384, 65_534])  # at each byte boundary
    counts = np.array([len(r) for r in rows])
    gaps = varint_gaps(np.array([f for r in rows for f in r], np.int64), counts)
    assert features_of(gaps, counts) == rows
    assert gaps.dtype == np.uint8


def test_the_explorer_keeps_a_lens_s_features_sparse_between_views_where_smaller(gpt2):
    sparse_sae = TinySAE(n=4096, seed=4)
    with torch.no_grad():
        sparse_sae.b_enc.fill_(-0.075)  # about 1% active, as in trained SAEs
    explorer = actscope.Explorer(gpt2, texts(2), lenses=[sparse_sae], layer=FEATURES)
    held = explorer.session.activations(1)
    assert held[FEATURES].is_sparse and not held[BLOCK].is_sparse
    x = explorer.session.inputs.batch([1])["input_ids"]
    expected = sparse_sae.encode(block_output(gpt2, x))[0].detach()
    torch.testing.assert_close(explorer.session.activation(FEATURES, 1), expected)
    kept = held[FEATURES]
    assert kept.values().numel() == int((expected != 0).sum())
    sparse_bytes = kept.indices().nbytes + kept.values().nbytes
    assert sparse_bytes < 0.4 * kept.to_dense().nbytes  # ~1% active: 28 bytes each vs 4 a value
    explorer.close()
    # a lens whose features are all non-zero (projections) stays dense: sparse is larger
    directions = torch.randn(16, 64, generator=torch.Generator().manual_seed(0))
    lens = actscope.Lens.linear(BLOCK, directions, name="dense")
    explorer = actscope.Explorer(gpt2, texts(2), lenses=[lens])
    held = explorer.session.activations(1)[f"{BLOCK}/dense"]
    assert not held.is_sparse and bool((held != 0).all())
    explorer.close()
