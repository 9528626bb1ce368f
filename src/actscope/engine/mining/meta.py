"""What an index records of each layer, and how it was mined."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from . import keys as K


@dataclass(frozen=True)
class LayerMeta:
    """What the index records of a layer (from :class:`actscope.LayerInfo`).

    ``shape`` is one example's output shape in the first batch (a sequence's length varies);
    ``position_shape`` the non-unit axes that a flat position indexes, row-major.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    unit_axis: int | None
    n_units: int
    batch_axis: int
    output: str = ""
    type: str = ""

    @property
    def position_shape(self) -> tuple[int, ...]:
        if self.unit_axis is None:
            return ()
        return tuple(s for i, s in enumerate(self.shape) if i != self.unit_axis)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["shape"] = list(self.shape)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerMeta:
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            shape=tuple(int(s) for s in data["shape"]),
            unit_axis=None if data["unit_axis"] is None else int(data["unit_axis"]),
            n_units=int(data["n_units"]),
            batch_axis=int(data["batch_axis"]),
            output=str(data.get("output", "")),
            type=str(data.get("type", "")),
        )


@dataclass(frozen=True)
class Settings:
    """How an index was mined; two indexes merge only if these agree (``extra`` aside)."""

    k: int
    reservoir: int
    seed: int
    buckets: K.Buckets
    model: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
