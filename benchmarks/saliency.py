"""Saliency: actscope's time and memory against Captum and pytorch-grad-cam, side by side.

Same model, same batch, same settings, measured in one run: the digits CNN on 16 images
and MiniLM-L6 on the 8 demo sentences, integrated gradients with 50 steps. Each case is
timed alternately (ours, theirs, ours, ...) so that a noisy machine hurts both alike; the
table gives medians and the ratio ours / theirs (below 1.0 is faster). Each case also
checks that the two results agree, so the timings compare the same computation.

Peak memory is the most memory held at once above the starting point while one call runs:
``torch.cuda.max_memory_allocated`` on a GPU, the allocations and frees recorded by
``torch.profiler`` on a CPU.

    python benchmarks/saliency.py                  # the model's device: CUDA when present
    python benchmarks/saliency.py --device cpu --repeats 9 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Before torch loads: the profiler's C++ side would log a GPU probe failure on CPU machines.
os.environ.setdefault("KINETO_LOG_LEVEL", "5")

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from actscope.engine.saliency import saliency

Fn = Callable[[], Any]


@dataclass
class Case:
    name: str
    ours: Fn
    theirs: Fn | None
    reference: str
    compare: Callable[[Any, Any], float] | None = None
    repeats: int | None = None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Fn, device: torch.device) -> tuple[float, Any]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def side_by_side(case: Case, repeats: int, device: torch.device) -> tuple[float, float | None]:
    """Median seconds of ours and theirs, timed alternately after a warm-up."""
    ours_out = case.ours()
    theirs_out = case.theirs() if case.theirs is not None else None
    if case.compare is not None and theirs_out is not None:
        error = case.compare(ours_out, theirs_out)
        if error > 1e-5:
            raise SystemExit(f"{case.name}: results differ (relative error {error:.2g})")
    ours_times, theirs_times = [], []
    for _ in range(case.repeats or repeats):
        ours_times.append(timed(case.ours, device)[0])
        if case.theirs is not None:
            theirs_times.append(timed(case.theirs, device)[0])
    ours = statistics.median(ours_times)
    return ours, statistics.median(theirs_times) if theirs_times else None


def peak_memory(fn: Fn, device: torch.device) -> int:
    """Bytes allocated at the peak of one call, above what was held before it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    changes = sorted(
        (event.time_range.start, event.self_cpu_memory_usage) for event in prof.events()
    )
    held = peak = 0
    for _, change in changes:
        held += change
        peak = max(peak, held)
    return peak


def relative_error(ours: Any, theirs: Any) -> float:
    if isinstance(ours, tuple):
        ours = ours[0]
    if isinstance(theirs, tuple):
        theirs = theirs[0]
    theirs = torch.as_tensor(theirs).to(ours.device).float()
    if theirs.shape != ours.shape:
        theirs = theirs.reshape(ours.shape)
    ours, theirs = ours.detach().float(), theirs.detach()
    return float((ours - theirs).abs().max() / theirs.abs().max())


def digits_cases(device: torch.device) -> list[Case]:
    from captum.attr import (
        InputXGradient,
        IntegratedGradients,
        LayerAttribution,
        LayerGradCam,
        NoiseTunnel,
        Saliency,
    )
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from actscope.demo.digits import digits_demo

    model, images, labels = digits_demo(16)
    model, images = model.to(device), images.to(device)
    target = torch.tensor([int(label) for label in labels], device=device)
    size = tuple(images.shape[-2:])
    layer = model.features.conv4
    cam_model = copy.deepcopy(model)  # pytorch-grad-cam keeps hooks on its model
    cam = GradCAM(cam_model, [cam_model.features.conv4])
    cam_targets = [ClassifierOutputTarget(int(t)) for t in labels]

    def forward() -> Any:
        with torch.no_grad():
            return model(images)

    def layer_cam() -> torch.Tensor:
        attr = LayerGradCam(model, layer).attribute(images, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(attr, size, "bilinear")[:, 0]

    return [
        Case("digits · bare forward", forward, None, ""),
        Case(
            "digits · gradient",
            lambda: saliency(model, images, "gradient", target, absolute=True),
            lambda: Saliency(model).attribute(images, target=target, abs=True),
            "Captum Saliency",
            relative_error,
        ),
        Case(
            "digits · input × gradient",
            lambda: saliency(model, images, "input_x_gradient", target),
            lambda: InputXGradient(model).attribute(images, target=target),
            "Captum InputXGradient",
            relative_error,
        ),
        Case(
            "digits · integrated gradients, 50 steps",
            lambda: saliency(model, images, "integrated_gradients", target, n_steps=50),
            lambda: IntegratedGradients(model).attribute(images, target=target, n_steps=50),
            "Captum IntegratedGradients",
            relative_error,
        ),
        Case(
            "digits · smoothgrad, 25 samples",
            lambda: saliency(
                model, images, "smoothgrad", target, n_samples=25, stdev=0.15, absolute=True
            ),
            lambda: NoiseTunnel(Saliency(model)).attribute(
                images, nt_type="smoothgrad", nt_samples=25, stdevs=0.15, target=target
            ),
            "Captum NoiseTunnel",  # random noise on both sides: not compared
        ),
        Case(
            "digits · grad-cam",
            lambda: saliency(model, images, "grad_cam", target, layer="features.conv4"),
            layer_cam,
            "Captum LayerGradCam",
            relative_error,
        ),
        Case(
            "digits · grad-cam, min-max",
            lambda: saliency(
                model, images, "grad_cam", target, layer="features.conv4", normalize="minmax"
            ),
            lambda: cam(images, cam_targets),
            "pytorch-grad-cam GradCAM",
            relative_error,
        ),
    ]


def minilm_parts(device: torch.device) -> tuple[Any, dict[str, torch.Tensor], Any, Any]:
    from actscope.demo.text import SENTENCES, load_minilm

    model, tokenizer = load_minilm()
    model = model.to(device)
    batch = {
        k: v.to(device) for k, v in tokenizer(SENTENCES, return_tensors="pt", padding=True).items()
    }

    def captum_forward(ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> Any:
        return model(input_ids=ids, attention_mask=mask, token_type_ids=types).pooler_output[:, 0]

    def target(out: Any) -> torch.Tensor:
        return out.pooler_output[:, 0]

    return model, batch, captum_forward, target


def minilm_cases(device: torch.device, repeats: int) -> list[Case]:
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

    model, batch, captum_forward, target = minilm_parts(device)
    embeddings = model.embeddings.word_embeddings
    extra = (batch["attention_mask"], batch["token_type_ids"])
    pad = torch.zeros_like(batch["input_ids"])
    tokens = batch["input_ids"].shape[1]

    def forward() -> Any:
        with torch.no_grad():
            return model(**batch)

    return [
        Case(f"MiniLM · bare forward (8 × {tokens} tokens)", forward, None, ""),
        Case(
            "MiniLM · input × gradient (embeddings)",
            lambda: saliency(model, batch, "input_x_gradient", target),
            lambda: (
                LayerGradientXActivation(captum_forward, embeddings)
                .attribute(batch["input_ids"], additional_forward_args=extra)
                .sum(-1)
            ),
            "Captum LayerGradientXActivation",
            relative_error,
        ),
        Case(
            "MiniLM · integrated gradients, 50 steps",
            lambda: saliency(
                model, batch, "integrated_gradients", target, n_steps=50, baseline=pad[:1, :1]
            ),
            lambda: (
                LayerIntegratedGradients(captum_forward, embeddings)
                .attribute(
                    batch["input_ids"], baselines=pad, additional_forward_args=extra, n_steps=50
                )
                .sum(-1)
            ),
            "Captum LayerIntegratedGradients",
            relative_error,
            repeats=max(3, repeats // 2),
        ),
    ]


def memory_rows(device: torch.device) -> list[tuple[str, int | None, float, int, float, int]]:
    """IG on MiniLM with internal batching: time (median of 3) and peak, ours and Captum's."""
    from captum.attr import LayerIntegratedGradients

    model, batch, captum_forward, target = minilm_parts(device)
    lig = LayerIntegratedGradients(captum_forward, model.embeddings.word_embeddings)
    extra = (batch["attention_mask"], batch["token_type_ids"])
    pad = torch.zeros_like(batch["input_ids"])
    rows = []
    for size in (None, 100, 25):

        def ours(size: int | None = size) -> Any:
            return saliency(
                model,
                batch,
                "integrated_gradients",
                target,
                n_steps=50,
                baseline=pad[:1, :1],
                internal_batch_size=size,
            )

        def theirs(size: int | None = size) -> Any:
            return lig.attribute(
                batch["input_ids"],
                baselines=pad,
                additional_forward_args=extra,
                n_steps=50,
                internal_batch_size=size,
            )

        case = Case("", ours, theirs, "", repeats=3)
        ours_time, theirs_time = side_by_side(case, 3, device)
        assert theirs_time is not None
        label = "all 400 at once" if size is None else f"{size} per pass"
        rows.append(
            (
                label,
                size,
                ours_time,
                peak_memory(ours, device),
                theirs_time,
                peak_memory(theirs, device),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--skip-text", action="store_true", help="only the digits CNN")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    warnings.filterwarnings("ignore", module="captum")  # "required_grads has been set"
    what = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"actscope saliency vs references · torch {torch.__version__} · {what} · "
        f"{torch.get_num_threads()} threads · median of {args.repeats}"
    )
    cases = digits_cases(device)
    if not args.skip_text:
        cases += minilm_cases(device, args.repeats)
    header = f"{'case':44} {'actscope':>10} {'reference':>10} {'ratio':>6}  reference"
    print(header)
    print("-" * len(header))
    for case in cases:
        ours, theirs = side_by_side(case, args.repeats, device)
        if theirs is None:
            print(f"{case.name:44} {ours * 1e3:8.2f}ms {'':>10} {'':>6}")
        else:
            print(
                f"{case.name:44} {ours * 1e3:8.2f}ms {theirs * 1e3:8.2f}ms "
                f"{ours / theirs:5.2f}×  {case.reference}"
            )
    if args.skip_text:
        return
    print()
    print("MiniLM · integrated gradients, 50 steps × 8 sentences: internal batching (median of 3)")
    header = f"{'path points':18} {'actscope':>10} {'peak':>9} {'Captum':>10} {'peak':>9}"
    print(header)
    print("-" * len(header))
    for label, _, ours_time, ours_peak, theirs_time, theirs_peak in memory_rows(device):
        print(
            f"{label:18} {ours_time * 1e3:8.0f}ms {ours_peak / 2**20:7.1f}MB "
            f"{theirs_time * 1e3:8.0f}ms {theirs_peak / 2**20:7.1f}MB"
        )


if __name__ == "__main__":
    main()
