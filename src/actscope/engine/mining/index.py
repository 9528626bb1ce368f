"""``ActivationIndex``: what ``actscope.mine`` found, to query, save, load and merge."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..errors import IndexFileError, InputError, LayerNotFoundError
from . import keys as K
from . import state as S
from .meta import LayerMeta, Settings
from .results import (
    Band,
    Examples,
    Histogram,
    UnitSummary,
    band_edges,
    quantiles_from_counts,
    rebin,
)

if TYPE_CHECKING:
    from torch import nn

    from .contexts import Context


class ActivationIndex:
    """Per unit of each mined layer: top examples, a histogram, quantiles and samples.

    Made by :func:`actscope.mine`. Every statistic except the active fraction is over the
    unit's *per-example maxima* (its largest value at any valid position of an example);
    the active fraction is over every valid position. Tensors live on the CPU.

    Example::

        index = actscope.mine(model, texts, layers=["encoder.layer.3.intermediate"],
                              tokenizer=tokenizer)
        index.top("encoder.layer.3.intermediate", 1187)        # ids, values, positions
        index.quantile_samples("encoder.layer.3.intermediate", 1187)
        index.save("minilm.actidx")
        actscope.ActivationIndex.load("minilm.actidx").merge(other_shard)
    """

    def __init__(
        self,
        layers: Sequence[LayerMeta],
        states: Mapping[str, S.LayerState],
        *,
        n_examples: int,
        settings: Settings,
    ) -> None:
        self._meta = {m.name: m for m in layers}
        self._states = {m.name: states[m.name].to("cpu") for m in layers}
        self.n_examples = n_examples
        """How many examples were mined."""
        self.settings = settings
        """How the index was mined (k, reservoir size, seed, histogram buckets, model name);
        two indexes merge only if these agree."""
        self._edges = settings.buckets.edges()

    # Basics --------------------------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        """The mined layers' names, in the order they were asked for."""
        return list(self._meta)

    @property
    def k(self) -> int:
        """How many top examples are kept per unit."""
        return self.settings.k

    def layer(self, name: str) -> LayerMeta:
        """What the index knows of layer ``name`` (kind, shape, unit axis...)."""
        try:
            return self._meta[name]
        except KeyError:
            raise LayerNotFoundError(name, self._meta) from None

    def state(self, name: str) -> S.LayerState:
        """The raw running statistics of a layer (see :mod:`actscope.engine.mining.state`)."""
        self.layer(name)
        return self._states[name]

    @property
    def nbytes(self) -> int:
        """Bytes held in tensors: fixed by layers, units, k and reservoir, not by the data."""
        return sum(s.nbytes() for s in self._states.values())

    def __repr__(self) -> str:
        layers = ", ".join(f"{m.name} ({m.n_units})" for m in self._meta.values())
        return f"ActivationIndex({self.n_examples} examples, k={self.k}, layers=[{layers}])"

    def _unit(self, layer: str, unit: int) -> tuple[S.LayerState, int]:
        meta = self.layer(layer)
        if isinstance(unit, bool) or not isinstance(unit, int | torch.Tensor):
            raise InputError(f"unit must be an int, not {type(unit).__name__}.")
        u = int(unit)
        if not 0 <= u < meta.n_units:
            raise InputError(
                f"Unit {u} is out of range for layer {layer!r}, which has {meta.n_units} units "
                f"(0–{meta.n_units - 1})."
            )
        return self._states[layer], u

    # Queries -------------------------------------------------------------------------------
    def top(self, layer: str, unit: int, n: int | None = None) -> Examples:
        """The examples that drive ``unit`` hardest, best first (ties: lower id first).

        Args:
            layer: a mined layer's name.
            unit: the unit (neuron, channel) index.
            n: how many (at most ``k``; default all kept, fewer if the dataset was smaller).

        Returns:
            :class:`Examples` with ids, per-example maximum values and flat positions.

        Example::

            for ex in index.top("features.conv3", 5):
                print(ex.id, ex.value, index.location("features.conv3", ex.position))
        """
        st, u = self._unit(layer, unit)
        keys = st.top_key[u]
        filled = int((keys != K.EMPTY_TOP).sum())
        keep = filled if n is None else min(max(n, 0), filled)
        keys = keys[:keep]
        return Examples(K.top_ids(keys), K.top_values(keys), st.top_pos[u, :keep].clone())

    def location(self, layer: str, position: int) -> tuple[int, ...]:
        """A flat position as indices into the non-unit axes: ``(t,)`` or ``(h, w)``."""
        shape = self.layer(layer).position_shape
        if len(shape) <= 1:
            return (int(position),)
        out = []
        for size in reversed(shape):
            position, rest = divmod(int(position), size)
            out.append(rest)
        return tuple(reversed(out))

    def quantiles(
        self, layer: str, unit: int, q: float | Sequence[float] | torch.Tensor
    ) -> torch.Tensor:
        """Estimated quantiles of the unit's per-example maxima.

        Read off the log-spaced histogram by interpolation inside a bucket, so the error is
        at most one bucket's width: ``2**-bits`` of the value's magnitude (``bits`` is 3 by
        default: within 12.5%), and exact at ``q = 0`` and ``q = 1``.

        Returns:
            float64 tensor shaped like ``q``.
        """
        st, u = self._unit(layer, unit)
        qs = torch.as_tensor(q, dtype=torch.float64)
        if bool(((qs < 0) | (qs > 1)).any()):
            raise InputError(f"Quantiles must be in [0, 1], got {qs.tolist()}.")
        flat = qs.reshape(-1)
        out = quantiles_from_counts(
            st.hist[u : u + 1],
            self._edges,
            st.lowest[u : u + 1],
            self._highest(st)[u : u + 1],
            flat,
        )
        return out[0].reshape(qs.shape)

    def _highest(self, st: S.LayerState) -> torch.Tensor:
        return K.top_values(st.top_key[:, 0])

    def histogram(self, layer: str, unit: int, bins: int | None = None) -> Histogram:
        """The distribution of the unit's per-example maxima.

        Args:
            layer, unit: which unit.
            bins: ``None`` for the index's exact log-spaced buckets (trimmed to the occupied
                range); an int for that many equal-width bins between the smallest and
                largest maximum, with counts estimated (see :class:`Histogram`).
        """
        st, u = self._unit(layer, unit)
        counts = st.hist[u]
        nonzero = counts.nonzero().squeeze(1)
        lowest = float(st.lowest[u])
        highest = float(self._highest(st)[u])
        if nonzero.numel() == 0:
            return Histogram(torch.zeros(1, dtype=torch.float64), counts[:0].clone(), 0)
        first, last = int(nonzero[0]), int(nonzero[-1])
        edges = self._edges[first : last + 2].clone()
        edges[0], edges[-1] = lowest, highest
        edges = torch.maximum(edges, torch.tensor(lowest, dtype=torch.float64))
        edges = torch.minimum(edges, torch.tensor(highest, dtype=torch.float64))
        trimmed = counts[first : last + 1].clone()
        if bins is None:
            return Histogram(edges, trimmed, self.n_examples)
        if bins < 1:
            raise InputError(f"bins must be at least 1, not {bins}.")
        new_edges, new_counts = rebin(trimmed, edges, lowest, highest, bins)
        return Histogram(new_edges, new_counts, self.n_examples)

    def quantile_samples(
        self, layer: str, unit: int, bands: int | Sequence[float] = 10, n: int = 5
    ) -> list[Band]:
        """A few examples from each quantile band of the unit's per-example maxima.

        The index keeps a seeded uniform sample of ``reservoir`` examples per unit. Its
        examples are ranked by value and each falls in the band of its rank's quantile, so
        equal-count bands receive equal shares of the sample (about ``reservoir / bands``
        each); ``n`` are taken from each, at random (by their seeded priority).

        Args:
            layer, unit: which unit.
            bands: a number of equal bands (10: deciles), or ascending quantile edges from
                0 to 1 such as ``[0, 0.5, 0.9, 0.99, 1]``.
            n: examples per band (fewer when the sample holds fewer).

        Returns:
            One :class:`Band` per band, lowest first.
        """
        st, u = self._unit(layer, unit)
        edges_q = band_edges(bands)
        ids = K.sample_ids(st.sample_key[u])
        filled = ids >= 0
        ids, values = ids[filled], st.sample[u][filled]
        count = int(ids.numel())
        # Rank by value (stable: ties keep the random key order), then position → quantile.
        order = torch.sort(values, stable=True).indices
        rank = torch.empty_like(order)
        rank[order] = torch.arange(count)
        quantile = (rank.to(torch.float64) + 0.5) / max(count, 1)
        band_of = (torch.searchsorted(edges_q, quantile, right=True) - 1).clamp(0, len(edges_q) - 2)
        limits = self.quantiles(layer, u, edges_q)
        out = []
        for b in range(len(edges_q) - 1):
            members = (band_of == b).nonzero().squeeze(1)
            chosen = members[:n]
            by_value = torch.sort(values[chosen], descending=True, stable=True).indices
            chosen = chosen[by_value]
            out.append(
                Band(
                    lower_q=float(edges_q[b]),
                    upper_q=float(edges_q[b + 1]),
                    lower=float(limits[b]),
                    upper=float(limits[b + 1]),
                    examples=Examples(ids[chosen].clone(), values[chosen].clone()),
                    sampled=int(members.numel()),
                )
            )
        return out

    def summary(self, layer: str, unit: int) -> UnitSummary:
        """The unit's headline figures (see :class:`UnitSummary` for what each is over)."""
        st, u = self._unit(layer, unit)
        positions = int(st.positions[u])
        return UnitSummary(
            layer=layer,
            unit=u,
            max=float(self._highest(st)[u]),
            lowest=float(st.lowest[u]),
            median=float(self.quantiles(layer, u, 0.5)),
            active_fraction=int(st.active[u]) / positions if positions else math.nan,
            active_example_fraction=(
                int(st.active_examples[u]) / self.n_examples if self.n_examples else math.nan
            ),
            n_examples=self.n_examples,
            positions=positions,
            nan_examples=int(st.nan_examples[u]),
        )

    def unit_table(self, layer: str) -> dict[str, torch.Tensor]:
        """Every unit's figures at once: ``(U,)`` tensors ``max``, ``median``, ``lowest``,
        ``active_fraction``, ``active_example_fraction``, ``nan_examples`` (for ranking units)."""
        self.layer(layer)
        st = self._states[layer]
        highest = self._highest(st)
        half = torch.tensor([0.5], dtype=torch.float64)
        median = quantiles_from_counts(st.hist, self._edges, st.lowest, highest, half)[:, 0]
        positions = st.positions.clamp(min=1).to(torch.float64)
        return {
            "max": highest,
            "median": median,
            "lowest": st.lowest.clone(),
            "active_fraction": st.active.to(torch.float64) / positions,
            "active_example_fraction": st.active_examples.to(torch.float64)
            / max(self.n_examples, 1),
            "nan_examples": st.nan_examples.clone(),
        }

    # Contexts ------------------------------------------------------------------------------
    def contexts(
        self,
        model: nn.Module,
        dataset: Any,
        layer: str,
        unit: int,
        ids: Sequence[int] | torch.Tensor | None = None,
        **options: Any,
    ) -> list[Context]:
        """Re-run the model on a few examples and show where ``unit`` fires in each.

        Text gives a token window around the peak with the unit's value at every token;
        images give the image with the peak's location marked. See
        :func:`actscope.engine.mining.contexts.contexts` for the options (``tokenizer``,
        ``forward``, ``window``, ``device``...).

        Args:
            model: the model that was mined (it is left as found).
            dataset: the dataset that was mined, in the same form and order.
            layer, unit: which unit.
            ids: example ids (default: this unit's top examples).
        """
        from .contexts import contexts

        self._unit(layer, unit)
        chosen = self.top(layer, unit).ids if ids is None else ids
        return contexts(self, model, dataset, layer, int(unit), chosen, **options)

    # Combining and storing -----------------------------------------------------------------
    def merge(self, other: ActivationIndex) -> ActivationIndex:
        """This index and ``other``, mined on a disjoint shard, as one.

        Exact: top-k lists are re-selected from both (ties by id), histograms and counts
        add, and the seeded samples combine into the sample one pass would have drawn.
        Raises :class:`actscope.IndexFileError` if the two were mined differently
        (other layers, k, reservoir, seed or histogram settings) or share examples.
        """
        from .merge import check_compatible, check_disjoint

        check_compatible(self, other)
        states = {}
        for name in self.layers:
            merged = S.merge(self._states[name], other._states[name])
            check_disjoint(name, merged)
            states[name] = merged
        return ActivationIndex(
            list(self._meta.values()),
            states,
            n_examples=self.n_examples + other.n_examples,
            settings=self.settings,
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index as safetensors with JSON metadata (no pickle)."""
        from .storage import save

        save(self, path)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        layers: Sequence[str] | None = None,
        model: Any = None,
    ) -> ActivationIndex:
        """Read an index written by :meth:`save`.

        Args:
            path: the file.
            layers: if given, each must be in the index.
            model: if given, the index must have been made for a model of its class.

        Raises:
            actscope.IndexFileError: not an index, corrupted, or made for other
                layers or another model.
        """
        from .storage import load

        index = load(path)
        index.check(layers=layers, model=model)
        return index

    def check(self, *, layers: Sequence[str] | None = None, model: Any = None) -> None:
        """Raise :class:`IndexFileError` unless this index covers ``layers`` of ``model``."""
        if model is not None:
            name = type(model).__name__
            if self.settings.model and name != self.settings.model:
                raise IndexFileError(
                    f"This index was made for a {self.settings.model}, not a {name}: mine "
                    "this model again (actscope.mine) or load the index made for it."
                )
        if layers is not None:
            missing = [name for name in layers if name not in self._meta]
            if missing:
                raise IndexFileError(
                    f"This index was made for layers {self.layers}, not {missing}: mine "
                    f"them (actscope.mine(model, dataset, layers={missing!r}))."
                )

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every array, decoded, by ``"<layer>/<field>"``: what :meth:`save` writes."""
        out: dict[str, torch.Tensor] = {}
        for name, st in self._states.items():
            out[f"{name}/top_ids"] = K.top_ids(st.top_key)
            out[f"{name}/top_values"] = K.top_values(st.top_key)
            out[f"{name}/top_positions"] = st.top_pos
            out[f"{name}/sample_ids"] = K.sample_ids(st.sample_key)
            out[f"{name}/sample_values"] = st.sample
            out[f"{name}/histogram"] = st.hist
            out[f"{name}/lowest"] = st.lowest
            out[f"{name}/active_examples"] = st.active_examples
            out[f"{name}/nan_examples"] = st.nan_examples
            out[f"{name}/active_positions"] = st.active
            out[f"{name}/positions"] = st.positions[:1].clone()
        return out
