"""Lenses: features computed from a layer's activations, as layers of their own.

A :class:`Lens` maps the output ``x`` of a layer to features ``f = encode(x)`` (a sparse
autoencoder's latents, a transcoder's, a probe's scores, principal components) and,
optionally, back: ``decode(f)``. Given to any call with ``lenses=[...]``, it becomes a
*virtual layer* named ``"<layer>/<name>"`` (``"encoder.layer.3.output/sae"``) that every
call taking a layer name accepts: ``capture``, ``list_layers``, ``mine``, ``saliency``
targets, ``intervene`` edits, ``logit_effects``, the explorer.

How it runs: the virtual layer is a module outside the model (the model is not changed).
Hooking it (:class:`~.hooks.Hooks`) also hooks its base layer with a *driver*: after each
call of the base layer, the driver encodes the output, which runs the virtual layer's own
hooks (a capture records the features, an edit changes them). When a hook changed the
features, the driver writes the change back through the decoder and keeps the
reconstruction error::

    x' = x + decode(f') − decode(f)        (= x + Σ_i (f'_i − f_i) · d_i for a linear one)

so that editing nothing leaves the model's output exactly as it was, and ablating feature
``i`` subtracts ``f_i · d_i``. A lens that no call hooks costs nothing.

A registered lens is remembered for that model (weakly, outside it) for the rest of the
process, so a name given once keeps working (the mining index, the explorer's jobs); giving
another lens under the same name replaces it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from .batch import map_tensors
from .errors import ActscopeError, InputError, LayerOutputError
from .hooks import VirtualModule
from .names import (
    VIRTUAL_SEPARATOR,
    add_virtual,
    canonical,
    resolve_modules,
    unwrap,
    virtual_layers,
)
from .outputs import OutputSelector, select

Features = Callable[[torch.Tensor], torch.Tensor]


def _hook_name(source: Any) -> str | None:
    """The layer a SAELens-style object names in its config (``cfg.hook_name`` or
    ``cfg.metadata.hook_name``)."""
    cfg = getattr(source, "cfg", None)
    for holder in (cfg, getattr(cfg, "metadata", None)):
        name = getattr(holder, "hook_name", None)
        if isinstance(name, str) and name:
            return name
    return None


class Lens:
    """Features of one layer: ``encode`` maps its output to features, ``decode`` back.

    Args:
        layer: the layer whose output the features are computed from (any name of it). A
            SAELens ``SAE`` (or any object with ``encode``/``decode`` and a ``cfg`` naming
            its hook) may be given alone: ``Lens(sae)``.
        encode: activations → features, a function or a module; or an object with
            ``encode`` and ``decode`` methods (a SAELens ``SAE`` works as it is).
        decode: features → activations; needed only to edit features. Taken from
            ``encode.decode`` when ``encode`` is such an object.
        name: the part after the ``/`` in the virtual layer's name (default ``"sae"`` for
            an object with ``encode``/``decode``, else the module's class in lower case, else
            ``"lens"``).
        output: which tensor of the layer's output to encode, as in ``capture``'s
            ``outputs`` (default: the first).
        decoder: the ``(n_features, d)`` decoder directions, when known: edits then add
            ``(f' − f) @ decoder`` rather than decoding twice (taken from ``W_dec``).
        into: for a transcoder, the layer its decoder writes (it reads ``layer`` and
            reconstructs ``into``'s output, an MLP's from its input): edits change
            ``into``'s output; by default the decoder writes back into ``layer``.
        pointwise: ``encode`` acts on each position alone, as an SAE, a transcoder or a
            probe does (the default). Mining then encodes only real tokens, a cache-sized
            chunk at a time. Give ``False`` for an encode that mixes positions.

    Example::

        lens = actscope.Lens("encoder.layer.3.output", sae)      # sae.encode / sae.decode
        with actscope.capture(model, "encoder.layer.3.output/sae", lenses=[lens]) as acts:
            model(**batch)
        acts["encoder.layer.3.output/sae"]                        # (N, T, n_features)
    """

    def __init__(
        self,
        layer: Any = None,
        encode: Any = None,
        decode: Features | None = None,
        *,
        name: str | None = None,
        output: OutputSelector | None = None,
        decoder: torch.Tensor | None = None,
        into: str | None = None,
        pointwise: bool = True,
    ) -> None:
        if encode is None and layer is not None and not isinstance(layer, str):
            layer, encode = _hook_name(layer), layer
        if encode is None:
            raise InputError(
                "A Lens needs encode: a function or module from the layer's activations to "
                "features, or an object with encode/decode methods (such as a SAELens SAE)."
            )
        source = encode
        if callable(getattr(source, "encode", None)):
            encode = source.encode
            if decode is None and callable(getattr(source, "decode", None)):
                decode = source.decode
            default = "sae"
        elif isinstance(source, nn.Module):
            default = type(source).__name__.lower()
        elif callable(source):
            default = "lens"
        else:
            raise InputError(
                f"A Lens's encode must be callable or have an encode method, not "
                f"{type(source).__name__}."
            )
        if layer is None:
            layer = _hook_name(source)
        if not isinstance(layer, str) or not layer:
            raise InputError(
                "Which layer does this lens read? Give it: actscope.Lens('<layer>', encode)."
            )
        self.layer = layer
        self.into = into
        self.pointwise = pointwise
        self.source = source
        self.encode: Features = encode
        self.decode: Features | None = decode
        self.name = name or default
        if VIRTUAL_SEPARATOR in self.name:
            raise InputError(f"A lens name cannot contain {VIRTUAL_SEPARATOR!r}: {self.name!r}.")
        self.output = output
        if decoder is None:
            w_dec = getattr(source, "W_dec", None)
            decoder = w_dec if isinstance(w_dec, torch.Tensor) and w_dec.ndim == 2 else None
        self.decoder = decoder
        self.feature_axis = -1
        """The axis of the features in ``encode``'s output (``decoder`` applies along it)."""
        self.explained: torch.Tensor | None = None
        """Each feature's fraction of the variance, where known (:func:`~.pca.pca`)."""
        self.kind = (
            type(source).__name__ if isinstance(source, nn.Module) or default == "sae" else "Lens"
        )
        """What the layer tree calls it: the SAE's or module's class, ``Linear``, ``PCA``."""
        params = list(source.parameters()) if isinstance(source, nn.Module) else []
        self.dtype: torch.dtype | None = params[0].dtype if params else None

    def __repr__(self) -> str:
        return f"Lens({self.layer!r}, name={self.name!r})"

    @classmethod
    def linear(
        cls,
        layer: str,
        directions: torch.Tensor,
        bias: torch.Tensor | None = None,
        *,
        name: str = "linear",
        center: torch.Tensor | None = None,
        axis: int = -1,
    ) -> Lens:
        """Features as projections on ``directions`` (``(n_features, d)``, a probe's or any
        directions): ``f = (x − center) · directionsᵀ + bias`` along ``axis`` of the output
        (the last for sequences and vectors; 1 for ``(N, C, H, W)`` channels). Editing
        feature ``i`` moves the activation along ``directions[i]``."""
        w = directions.detach()
        if w.ndim != 2:
            raise InputError(
                f"Lens.linear takes directions of shape (n_features, d), got {tuple(w.shape)}."
            )
        lens_map = _LinearMap(w, bias, center, axis)
        lens = cls(layer, lens_map.encode, lens_map.decode, name=name, decoder=w)
        lens.feature_axis = axis
        lens.kind = "Linear"
        return lens

    def direction(self, feature: int) -> torch.Tensor:
        """Feature ``feature``'s decoder direction: where it writes in the layer's space."""
        if self.decoder is not None:
            if not 0 <= feature < self.decoder.shape[0]:
                raise InputError(
                    f"Feature {feature} is out of range: the lens has {self.decoder.shape[0]}."
                )
            return self.decoder[feature].detach()
        if self.decode is None:
            raise ActscopeError(
                f"The lens {self.name!r} has no decode, so its features have no direction. "
                "Give decode= (or decoder=) to the Lens."
            )
        raise ActscopeError(
            f"The lens {self.name!r} gives no decoder matrix; pass decoder=<(n_features, d)> "
            "to the Lens, or direction= to the call."
        )


class _LinearMap:
    """Encode and decode of :meth:`Lens.linear` along one axis."""

    def __init__(
        self,
        w: torch.Tensor,
        bias: torch.Tensor | None,
        center: torch.Tensor | None,
        axis: int,
    ) -> None:
        self.w, self.bias, self.center, self.axis = w, bias, center, axis

    def _last(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(self.axis, -1) if self.axis != -1 else x

    def _back(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(-1, self.axis) if self.axis != -1 else x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = self._last(x)
        w = self.w.to(x.device, x.dtype)
        if x.shape[-1] != w.shape[1]:
            raise LayerOutputError(
                f"This linear lens has directions of width {w.shape[1]}; the layer's units "
                f"axis has {x.shape[-1]}."
            )
        if self.center is not None:
            x = x - self.center.to(x.device, x.dtype)
        f = x @ w.T
        if self.bias is not None:
            f = f + self.bias.to(f.device, f.dtype)
        return self._back(f)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        f = self._last(f)
        x = f @ self.w.to(f.device, f.dtype)
        if self.center is not None:
            x = x + self.center.to(x.device, x.dtype)
        return self._back(x)


class LensModule(VirtualModule):
    """A lens bound to one model: the virtual layer's module (outside the model)."""

    into: nn.Module | None
    """A transcoder's output layer (its decoder writes there), else ``None``."""

    def __init__(
        self,
        lens: Lens,
        name: str,
        base_name: str,
        base: nn.Module,
        into: tuple[str, nn.Module] | None = None,
    ) -> None:
        super().__init__()
        object.__setattr__(self, "base", base)  # not a submodule: it belongs to the model
        object.__setattr__(self, "into", into[1] if into else None)
        self.into_name = into[0] if into else base_name
        """The layer the decoder writes: ``base_name``, or a transcoder's ``into``."""
        self.lens = lens
        self.layer_name = name
        self.base_name = base_name
        self.display_type = lens.kind
        self._local = threading.local()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        self._local.raw = f
        self._local.version = f._version
        return f

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``encode(x)`` with the lens's dtype, its errors named (no hooks run)."""
        lens = self.lens
        try:
            f = lens.encode(x.to(lens.dtype) if lens.dtype is not None else x)
        except Exception as err:
            raise LayerOutputError(
                f"The lens {self.layer_name!r} could not encode the output of "
                f"{self.base_name!r} (shape {tuple(x.shape)}, "
                f"{str(x.dtype).removeprefix('torch.')}): {err}"
            ) from err
        if not isinstance(f, torch.Tensor):
            raise LayerOutputError(
                f"The lens {self.layer_name!r} returned {type(f).__name__}, not a tensor."
            )
        return f

    def drive(self, _module: nn.Module, _args: tuple[Any, ...], output: Any) -> Any:
        x = select(output, self.lens.output, self.base_name)
        f = self(x)
        raw, self._local.raw = self._local.raw, None  # not held past the pass
        if f is raw:
            if raw._version != self._local.version:
                raise LayerOutputError(
                    f"A hook changed the features of {self.layer_name!r} in place; return "
                    "the edited features instead (actscope.Edit does)."
                )
            return None
        delta = self.delta(raw, f)
        if self.into is not None:  # a transcoder: written where the into layer returns
            self._local.pending = delta
            return None
        return _added(output, x, delta)

    def driver_hooks(self) -> list[tuple[nn.Module, Any]]:
        hooks = [(self.base, self.drive)]
        if self.into is not None:
            hooks.append((self.into, self._write_into))
        return hooks

    def _write_into(self, _module: nn.Module, _args: tuple[Any, ...], output: Any) -> Any:
        delta = getattr(self._local, "pending", None)
        if delta is None:
            return None
        self._local.pending = None
        return _added(output, select(output, self.lens.output, self.into_name), delta)

    def delta(self, raw: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
        """What an edit of the features from ``raw`` to ``edited`` adds to the activation."""
        lens = self.lens
        if lens.decoder is not None and lens.feature_axis == -1:
            w = lens.decoder.to(edited.device, edited.dtype)
            if raw.shape[-1] == w.shape[0]:
                return (edited - raw) @ w
        if lens.decode is None:
            raise ActscopeError(
                f"The lens {self.layer_name!r} has no decode, so its features cannot be "
                "edited. Give decode= to the Lens."
            )
        return lens.decode(edited) - lens.decode(raw)


def _added(output: Any, x: torch.Tensor, delta: torch.Tensor) -> Any:
    """``output`` with its tensor ``x`` replaced by ``x + delta``."""
    new = x + delta.to(x.device, x.dtype)
    if output is x:
        return new
    return map_tensors(lambda t: new if t is x else t, output)


def as_lens(item: Any) -> Lens:
    """A :class:`Lens`, or an object with ``encode``/``decode`` naming its layer."""
    if isinstance(item, Lens):
        return item
    if callable(getattr(item, "encode", None)):
        return Lens(item)
    raise InputError(
        f"lenses= takes actscope.Lens objects (or SAE-like objects with encode/decode "
        f"that name their layer), not {type(item).__name__}."
    )


def register(model: Any, lenses: Iterable[Any] | Lens | None) -> list[str]:
    """Make each lens a virtual layer of ``model``; returns their names. The model is not
    changed; an unknown base layer raises with the closest names."""
    if lenses is None:
        return []
    model = unwrap(model)
    items = [lenses] if isinstance(lenses, Lens) else list(lenses)
    known = virtual_layers(model)
    names: list[str] = []
    for item in items:
        lens = as_lens(item)
        base_name = canonical(model, lens.layer)
        base = resolve_modules(model, [base_name])[base_name]
        name = f"{base_name}{VIRTUAL_SEPARATOR}{lens.name}"
        into = None
        if lens.into is not None:
            into_name = canonical(model, lens.into)
            into = (into_name, resolve_modules(model, [into_name])[into_name])
        now = known.get(name)
        if now is None or not (isinstance(now[1], LensModule) and now[1].lens is lens):
            add_virtual(model, name, base_name, LensModule(lens, name, base_name, base, into))
        names.append(name)
    return names


def lens_module(model: nn.Module, layer: str) -> LensModule | None:
    """The lens behind a virtual layer name (``None`` for an ordinary layer)."""
    from .names import split_call

    entry = virtual_layers(unwrap(model)).get(split_call(layer)[0])
    return entry[1] if entry is not None and isinstance(entry[1], LensModule) else None
