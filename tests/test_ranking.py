"""Ranking units: top-k against a brute-force sort, NaN never wins, ties go to lower ids."""

from __future__ import annotations

import math

import torch

from actscope import contrast, rank_units, unit_stats


def brute_force_top(act: torch.Tensor, unit_axis: int, k: int):
    flat = act.movedim(unit_axis, 0).reshape(act.shape[unit_axis], -1)
    rows = []
    for u in range(flat.shape[0]):
        values = flat[u].tolist()
        finite = [v for v in values if not math.isnan(v)]
        best = max(finite) if finite else float("-inf")
        pos = values.index(best) if finite else 0
        rows.append((best, u, pos))
    rows.sort(key=lambda r: (-r[0], r[1]))
    return rows[:k]


def test_top_units_match_a_brute_force_sort():
    torch.manual_seed(0)
    act = torch.randn(37, 300)
    ranking = rank_units(act, unit_axis=1, k=25)
    expected = brute_force_top(act, 1, 25)
    assert ranking.units.tolist() == [u for _, u, _ in expected]
    assert torch.allclose(ranking.max, torch.tensor([v for v, _, _ in expected]))
    assert ranking.argmax.tolist() == [p for _, _, p in expected]
    assert torch.allclose(ranking.mean, act.mean(0)[ranking.units])


def test_spatial_layout_positions_are_flat_indices():
    act = torch.zeros(4, 3, 5)
    act[2, 1, 3] = 7.0
    r = rank_units(act, unit_axis=0, k=1)
    assert r.units.tolist() == [2]
    assert r.argmax.tolist() == [1 * 5 + 3]


def test_ties_go_to_the_lower_unit():
    act = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0]])
    assert rank_units(act, unit_axis=1, k=3).units.tolist() == [1, 2, 4]


def test_nan_never_wins_and_inf_does():
    act = torch.tensor([[float("nan"), 1.0, float("inf"), 0.5], [float("nan"), 2.0, 0.0, 0.1]])
    stats = unit_stats(act, 1)
    assert stats.max.tolist() == [float("-inf"), 2.0, float("inf"), 0.5]
    assert torch.isnan(stats.mean[0])
    assert rank_units(act, 1, k=4).units.tolist() == [2, 1, 3, 0]
    by_mean = rank_units(act, 1, k=4, by="mean")
    # Means are over finite values: unit 1 → 1.5, unit 3 → 0.3, unit 2 → 0.0, unit 0 → NaN.
    assert by_mean.units.tolist() == [1, 3, 2, 0]


def test_contrast_finds_units_higher_in_group_a():
    torch.manual_seed(1)
    b = torch.randn(20, 6, 10)
    a = b.clone()
    a[..., 7] += 5.0
    r = contrast(a, b, unit_axis=1, k=3)
    assert r.units.tolist()[0] == 7
    assert torch.isclose(r.mean[0], torch.tensor(5.0), atol=1e-4)


def test_by_count_ranks_active_positions_against_a_brute_force_sort():
    torch.manual_seed(1)
    act = torch.relu(torch.randn(40, 200) - 1.0)  # sparse: a ReLU's or a lens's features
    act[3, 7] = float("nan")  # NaN is not active
    r = rank_units(act, unit_axis=1, k=30, by="count")
    rows = []
    for u in range(act.shape[1]):
        column = act[:, u].tolist()
        active = sum(1 for v in column if v > 0)
        best = max((v for v in column if not math.isnan(v)), default=float("-inf"))
        rows.append((-active, -best, u))
    rows.sort()
    assert r.units.tolist() == [u for _, _, u in rows[:30]]
    assert r.count is not None
    assert r.count.tolist() == [-c for c, _, _ in rows[:30]]
    assert r.by == "count"
    # statistics made without counts still rank by max and mean
    from actscope.engine.ranking import UnitStats, top_units

    bare = UnitStats(max=torch.tensor([1.0, 3.0]), mean=torch.zeros(2), argmax=torch.zeros(2))
    assert top_units(bare, 2).units.tolist() == [1, 0] and top_units(bare, 2).count is None
    # the other rankings carry the counts too
    by_max = rank_units(act, unit_axis=1, k=5)
    assert by_max.count is not None
    assert by_max.count.tolist() == [int((act[:, u] > 0).sum()) for u in by_max.units.tolist()]
