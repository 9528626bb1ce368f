"""The patching panel: activation patching between two inputs, as a layers × positions map.

Twin of ``js/src/panels/patching.ts``. ``ex.patch(clean, corrupted)`` (or the panel's Run
button) runs :func:`actscope.patching_sweep` as a background job with progress and Cancel:
the corrupted input with the clean input's activation patched in at one (layer, position) at
a time, the metric (by default the log-probability of the clean run's top prediction) on
each patched run. The result travels in the ``patching_view`` trait, so a saved notebook or
an exported page shows the last sweep; a click on a cell opens that layer and position.
The sweep runs on the clean model (without the explorer's edits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
import traitlets

from ...engine.batch import move
from ...engine.effects import logit_diff, top_logprob
from ...engine.errors import InputError
from ...engine.forward import run_forward
from ...engine.hooks import Hooks
from ...engine.lm import logits_of
from ...engine.names import resolve_modules
from ...engine.patching import patching_sweep
from ...engine.prefix import find_blocks
from .. import wire
from ..contract import PatchingViewMeta
from ..jobs import Progress
from .base import Panel


def patching_blob(
    values: torch.Tensor,
    *,
    clean: int,
    corrupted: int,
    layers: list[str],
    site: str,
    metric: str,
    baseline: tuple[float, float],
    tokens: list[str] | None,
) -> bytes:
    """A sweep's ``(layers, positions)`` values as a blob (NaN where a layer has fewer)."""
    meta: PatchingViewMeta = {
        "key": f"{clean}|{corrupted}",
        "clean": clean,
        "corrupted": corrupted,
        "layers": layers,
        "site": site,
        "metric": metric,
        "clean_value": baseline[0],
        "corrupted_value": baseline[1],
    }
    if tokens is not None:
        meta["tokens"] = tokens
    return wire.encode({"values": values.float().cpu()}, meta, precision="f16")


class PatchingPanel(Panel):
    """Activation patching between two of the explorer's inputs."""

    messages: ClassVar[dict[str, str]] = {"patch": "_patch_from_front"}

    patching_view = traitlets.Bytes(b"").tag(sync=True)
    """Type: wire blob (``PatchingViewMeta``) of the last sweep. Default: empty (no sweep
    run; ``ex.patch(clean, corrupted)`` runs one)."""

    def patch(
        self,
        clean: int = 0,
        corrupted: int = 1,
        layers: Sequence[str] | None = None,
        *,
        metric: Callable[[torch.Tensor], torch.Tensor] | str | None = None,
        site: str | None = None,
        background: bool | None = None,
    ) -> None:
        """Patch input ``clean``'s activations into input ``corrupted``, one (layer,
        position) at a time, and show the metric of each patched run (a background job in
        a notebook; Cancel stops it).

        Args:
            clean, corrupted: two inputs of the explorer with the same number of positions
                (tokens), e.g. prompts that differ in one word.
            layers: the layers to patch; by default a language model's blocks, patched at
                their input (the residual stream), so row 0 is the embeddings.
            metric: ``metric(logits) → (N,)``; ``"top_logprob"`` (the default): the
                log-probability of the clean run's top prediction (the next token after the
                last position); ``"logit_diff"``: its logit minus that of the corrupted run's
                top prediction.
            site: ``"input"`` or ``"output"`` of each layer (default: ``"input"`` for the
                blocks found, else ``"output"``).

        Example::

            ex.add_input("The Eiffel Tower is in the city of")
            ex.add_input("The Colosseum is in the city of")
            ex.patch(clean=0, corrupted=1)           # which layers and positions carry it
            ex.figure(view="patching")
        """
        session = self.session
        n = len(session.inputs)
        for which, i in (("clean", clean), ("corrupted", corrupted)):
            if not 0 <= int(i) < n:
                raise InputError(f"{which} input {i} is out of range: there are {n} inputs.")
        if clean == corrupted:
            raise InputError("Patching needs two different inputs: pick another corrupted one.")
        blocks = find_blocks(session.model)
        if layers is None and not blocks:
            raise InputError(
                "This model has no stack of blocks to patch by default: pass layers=[...] "
                f"(for instance ['{self.layer}'])."
            )
        chosen = list(layers) if layers is not None else blocks
        modules = resolve_modules(session.model, chosen)  # unknown names: closest names
        where = site or ("input" if layers is None else "output")
        a, b = session.inputs.example(clean), session.inputs.example(corrupted)
        shapes = [_shape(a), _shape(b)]
        if shapes[0] != shapes[1]:
            raise InputError(
                f"Inputs {clean} and {corrupted} differ in shape ({shapes[0]} vs {shapes[1]}): "
                "patching needs the same number of positions; make them the same length."
            )
        tokens = session.inputs.tokens(corrupted)
        first = next(iter(modules.values()))
        chosen_metric, name = self._patch_metric(metric, a, b)

        def work(progress: Progress) -> bytes:
            batches = [0]

            def count(_module: Any, _args: Any) -> None:
                batches[0] += 1
                progress.update(batches[0], None, f"patched pass {batches[0]}")

            with Hooks() as hooks:
                hooks.pre(first, count)
                values = patching_sweep(
                    session.model,
                    a,
                    b,
                    chosen,
                    metric=chosen_metric,
                    site=where,  # type: ignore[arg-type]
                    forward=session.forward,
                    device=session.device,
                )
            baseline = self._baseline(a, b, chosen_metric)
            return patching_blob(
                values if values.ndim == 2 else values[:, None],
                clean=clean,
                corrupted=corrupted,
                layers=chosen,
                site=where,
                metric=name,
                baseline=baseline,
                tokens=tokens,
            )

        def done(blob: bytes) -> None:
            self.patching_view = blob

        def failed(exc: BaseException) -> None:
            self._show_error(exc, "action")

        self._jobs.start("patching", work, done, failed, background=background)

    def _patch_metric(self, metric: Any, clean: Any, corrupted: Any) -> tuple[Any, str]:
        """The metric function (None: the engine's default) and its name for the panel."""
        if metric is None or metric == "top_logprob":
            return None, "log p(clean top)"
        if callable(metric):
            return metric, getattr(metric, "__name__", "metric")
        if metric != "logit_diff":
            raise InputError(
                f"metric {metric!r} is not 'top_logprob' or 'logit_diff' (or a function of "
                "the logits returning one number per example)."
            )
        tops = []
        with torch.no_grad():
            for batch in (clean, corrupted):
                moved = move(batch, self.session.device, self.session.float_dtype)
                logits = logits_of(run_forward(self.session.model, moved, self.session.forward))
                tops.append(int(logits[0, -1].argmax() if logits.ndim == 3 else logits[0].argmax()))
        if tops[0] == tops[1]:
            raise InputError(
                f"Both inputs' top prediction is {tops[0]}: a logit difference between them is "
                "0 everywhere. Use metric='top_logprob', or inputs that the model answers "
                "differently."
            )
        return logit_diff(tops[0], tops[1]), "logit diff (clean top − corrupted top)"

    def _baseline(self, clean: Any, corrupted: Any, metric: Any) -> tuple[float, float]:
        """The metric on the clean and on the corrupted run, unpatched."""
        session = self.session
        out = []
        with torch.no_grad():
            for batch in (clean, corrupted):
                moved = move(batch, session.device, session.float_dtype)
                out.append(logits_of(run_forward(session.model, moved, session.forward)))
        fn = metric or top_logprob(out[0], move(clean, session.device, session.float_dtype))
        return float(fn(out[0]).mean()), float(fn(out[1]).mean())

    def _patch_from_front(self, content: Any, _buffers: Any) -> None:
        metric = str(content.get("metric", "top_logprob"))
        self.patch(int(content["clean"]), int(content["corrupted"]), metric=metric)

    def _figure_patching(self) -> Any:
        """``ex.figure(view="patching")``: the last sweep, layers × positions."""
        from .. import figures

        if not self.patching_view:
            raise InputError("No patching sweep yet: run ex.patch(clean, corrupted) first.")
        meta, arrays = wire.decode(self.patching_view)
        return figures.patching_figure(
            torch.from_numpy(arrays["values"]),
            meta["layers"],
            meta.get("tokens"),
            baseline=(meta["clean_value"], meta["corrupted_value"]),
            title=f"patching input {meta['clean']} into {meta['corrupted']} · {meta['metric']}",
        )


def _shape(example: Any) -> list[int]:
    ids = example.get("input_ids") if isinstance(example, dict) else example
    return list(ids.shape) if isinstance(ids, torch.Tensor) else []
