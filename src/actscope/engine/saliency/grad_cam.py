"""Grad-CAM (Selvaraju et al., 2017): a layer's feature maps weighted by their gradients.

Each channel k of the layer's output A gets a weight w_k, the mean over positions of
d target / d A_k; the map is ReLU(Σ_k w_k A_k), one value per position of the layer
(H × W for a conv layer, T tokens for a ``(T, D)`` layer), then upsampled to the input
image. One forward and one backward pass for the whole batch.

``normalize="minmax"`` reproduces pytorch-grad-cam's ``GradCAM`` exactly: each map is
scaled to [0, 1] (``(m − min) / (1e-7 + max)``) before and after bilinear upsampling.
Without it the values are in the target's units, as Captum's ``LayerGradCam`` gives them.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ActscopeError
from ..forward import ForwardFn
from ..layers import view_of
from ._common import autograd, begin, float_result, gradient_pass
from ._targets import TargetLike

Interpolation: TypeAlias = Literal["bilinear", "nearest", "bicubic", "area"]
_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def grad_cam(
    model: nn.Module,
    inputs: Any,
    *,
    target: TargetLike = None,
    layer: str | None = None,
    relu: bool = True,
    upsample: bool = True,
    interpolation: Interpolation = "bilinear",
    normalize: Literal["minmax"] | None = None,
    unit_axis: int | None = None,
    tokenizer: Any = None,
    forward: ForwardFn | None = None,
    device: str | torch.device = "auto",
    input_key: str | int | None = None,
) -> torch.Tensor:
    """Grad-CAM of the target at ``layer``, upsampled to the input.

    Args:
        model: any ``torch.nn.Module``; left exactly as found (mode, hooks, ``.grad``).
        inputs: an image batch ``(N, C, H, W)``, a list of tensors, strings with
            ``tokenizer``, a list of dicts of tensors, or one ready batch dict.
        target: the scalar per example to explain (see :func:`actscope.saliency`).
        layer: the layer whose output is weighted (its output must be one tensor with the
            batch first); default the model's last convolution.
        relu: keep only the positive part (Grad-CAM's ReLU); ``False`` as Captum's
            ``LayerGradCam`` default.
        upsample: resize the map to the input's spatial size when the input is an image
            (or a 1-D / 3-D signal); token maps are already one value per token.
        interpolation: ``"bilinear"`` (linear / trilinear for 1-D / 3-D maps),
            ``"nearest"``, ``"bicubic"`` or ``"area"``.
        normalize: ``"minmax"`` scales each map to [0, 1] as pytorch-grad-cam does.
        unit_axis: the channel axis of the layer's per-example output; by default channels
            first for ``(C, H, W)`` and last for ``(T, D)``, as ``actscope.list_layers``.
        tokenizer, forward, device, input_key: as in :func:`actscope.saliency`.

    Returns:
        One map per example: ``(N, H, W)`` for images (the layer's own ``(N, h, w)``
        without ``upsample``), ``(N, T)`` for a token layer.

    Example::

        cams = grad_cam(model, images, layer="features.conv4", normalize="minmax")
    """
    with autograd(model):
        name = layer if layer is not None else last_conv(model)
        prep, objective = begin(
            model,
            inputs,
            target,
            tokenizer=tokenizer,
            forward=forward,
            device=device,
            input_key=input_key,
            layer=name,
        )
        grads, acts = gradient_pass(prep, objective)
        if acts.ndim < 3:
            raise ActscopeError(
                f"Layer {name!r} gives one vector per example (shape {tuple(acts.shape)}), "
                "with no positions to map: Grad-CAM needs channels at positions, so pick a "
                "convolutional or token layer."
            )
        _, axis = view_of(tuple(acts.shape[1:]), unit_axis)
        channel = 1 + (axis or 0)
        positions = [d for d in range(1, acts.ndim) if d != channel]
        weights = grads.mean(dim=positions, keepdim=True)
        cam = float_result((weights * acts).sum(dim=channel))
        if relu:
            cam = F.relu(cam)
        if normalize == "minmax":
            cam = _minmax(cam)
        elif normalize is not None:
            raise ActscopeError(f"normalize must be 'minmax' or None, not {normalize!r}.")
        size = _input_size(prep.input_shape, cam.ndim - 1)
        if upsample and size is not None and tuple(cam.shape[1:]) != size:
            cam = _resize(cam, size, interpolation)
        if normalize == "minmax":
            cam = _minmax(F.relu(cam))
        return cam


def last_conv(model: nn.Module) -> str:
    """The name of the model's last convolution (Grad-CAM's usual layer)."""
    convs = [
        str(name)
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d)
    ]
    if not convs:
        raise ActscopeError(
            "The model has no convolution to default to: pass layer='...' (a layer whose "
            "output has channels at positions; actscope.list_layers shows them)."
        )
    return convs[-1]


def _input_size(shape: tuple[int, ...] | None, dims: int) -> tuple[int, ...] | None:
    """The input's spatial size, when it is a batch of ``dims``-D signals with channels."""
    if shape is None or dims not in _LINEAR or len(shape) != dims + 2:
        return None
    return tuple(shape[2:])


def _resize(cam: torch.Tensor, size: tuple[int, ...], interpolation: str) -> torch.Tensor:
    dims = cam.ndim - 1
    mode = _LINEAR[dims] if interpolation in ("bilinear", "linear", "trilinear") else interpolation
    if mode not in ("linear", "bilinear", "trilinear", "nearest", "bicubic", "area"):
        raise ActscopeError(
            f"interpolation must be 'bilinear', 'nearest', 'bicubic' or 'area', not "
            f"{interpolation!r}."
        )
    if mode == "bicubic" and dims != 2:
        raise ActscopeError("bicubic interpolation needs 2-D maps.")
    align = False if mode in ("linear", "bilinear", "trilinear", "bicubic") else None
    return F.interpolate(cam.unsqueeze(1), size=size, mode=mode, align_corners=align).squeeze(1)


def _minmax(cam: torch.Tensor) -> torch.Tensor:
    """Each map to [0, 1]: ``(m − min) / (1e-7 + max(m − min))`` (pytorch-grad-cam's)."""
    flat = cam.reshape(cam.shape[0], -1)
    shifted = flat - flat.amin(dim=1, keepdim=True)
    return (shifted / (1e-7 + shifted.amax(dim=1, keepdim=True))).view_as(cam)
