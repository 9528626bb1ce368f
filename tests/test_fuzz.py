"""Property-based fuzzing of the boundaries (hypothesis): whatever the front end sends, the
widget keeps a valid state; whatever batch tree a user passes, actscope works or raises an
``ActscopeError`` that names the problem, never a raw ``TypeError`` or ``KeyError``."""

from __future__ import annotations

import dataclasses
from collections import namedtuple

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import actscope
from actscope.engine.batch import tensors

from . import front_end

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)

SETTABLE = {
    "layer": st.sampled_from(["features.conv2", "classifier.fc2", "nope", ""]) | json_values,
    "input_index": st.integers(-3, 20) | json_values,
    "unit": st.none() | st.integers(-3, 70) | json_values,
    "saliency_method": st.sampled_from(["", "gradient", "gradiant"]) | json_values,
    "saliency_target": st.sampled_from(
        [{"type": "top"}, {"type": "class", "index": 3}, {"type": "unit"}, {"type": "x"}]
    )
    | json_values,
    "examples_band": st.integers(-3, 12) | json_values,
    "prefetch": st.booleans() | json_values,
}


def valid_state(ex) -> None:
    ex.session.info(ex.layer)
    assert 0 <= ex.input_index < len(ex.session.inputs)
    info = ex.session.info(ex.layer)
    assert ex.unit is None or 0 <= ex.unit < max(info.n_units, 1)
    assert ex.saliency_method in ("", "gradient")
    assert ex.saliency_target["type"] in ("top", "class", "unit")
    assert -1 <= ex.examples_band < 10
    assert isinstance(ex.prefetch, bool)


@SETTINGS
@given(changes=st.lists(st.sampled_from(sorted(SETTABLE)).flatmap(
    lambda name: st.tuples(st.just(name), SETTABLE[name])), min_size=1, max_size=4))  # fmt: skip
def test_random_values_from_the_front_end_leave_a_valid_state(explorer, changes):
    comm = front_end.connect(explorer)
    for name, value in changes:
        before = getattr(explorer, name)
        comm.sent.clear()
        front_end.update(explorer, {name: value})  # never raises
        valid_state(explorer)
        now = getattr(explorer, name)
        if now == before and value != before:
            # Refused: rolled back, shown, and the front end was sent the good value.
            assert explorer.status["state"] == "error", (name, value)
            assert explorer.status["message"]
            assert any(u.get(name) == before for u in comm.updates()), (name, value)


# -- batch trees ------------------------------------------------------------------------------

Pair = namedtuple("Pair", ["a", "b"])


@dataclasses.dataclass
class Box:
    x: torch.Tensor
    y: object = None


def tensor_strategy():
    shapes = st.lists(st.integers(0, 3), min_size=0, max_size=3)
    dtypes = st.sampled_from([torch.float32, torch.int64, torch.bool, torch.float16])
    return st.builds(lambda shape, dtype: torch.ones(shape).to(dtype), shapes, dtypes)


trees = st.recursive(
    tensor_strategy() | st.none() | st.integers() | st.text(max_size=4),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.builds(Pair, inner, inner),
        st.builds(Box, tensor_strategy(), inner),
        st.dictionaries(
            st.sampled_from(["input_ids", "x", "mask", "attention_mask"]), inner, max_size=3
        ),
    ),
    max_leaves=6,
)


class Anything(nn.Module):
    """Runs on any batch holding a floating tensor: a linear map of its mean."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 3)

    def forward(self, *args, **kwargs):
        floats = [t for t in tensors((args, kwargs)) if t.is_floating_point() and t.numel()]
        if not floats:
            raise ValueError("no floating tensor with values in the batch")
        x = floats[0].float()
        rows = x.reshape(x.shape[0] if x.ndim else 1, -1)
        return self.lin(rows.mean(-1, keepdim=True))


def works_or_says_why(call) -> None:
    message = "ok"
    try:
        call()
    except actscope.ActscopeError as exc:
        message = str(exc)
    except (TypeError, KeyError, IndexError, AttributeError, RuntimeError) as exc:
        raise AssertionError(f"raw {type(exc).__name__} from actscope: {exc}") from exc
    assert message, "an error with no message"


@SETTINGS
@given(tree=trees)
def test_any_batch_tree_works_or_raises_an_actscope_error(tree):
    model = Anything().eval()
    works_or_says_why(lambda: actscope.list_layers(model, tree))
    works_or_says_why(lambda: actscope.Explorer(model, [tree, tree], prefetch=False))
    works_or_says_why(
        lambda: actscope.mine(model, [tree, tree, tree], ["lin"], k=2, progress=False)
    )
