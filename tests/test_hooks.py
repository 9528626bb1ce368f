"""Hooks exist only inside their block, on every path, and only for their own thread."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from actscope.engine.hooks import Hooks


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_hooks_are_removed_when_the_block_raises():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    seen = []

    def interrupted() -> None:
        with Hooks() as hooks:
            hooks.forward(model[0], lambda m, a, o: seen.append(o.shape))
            hooks.pre(model[1], lambda m, a: None)
            seen.append(hook_count(model))
            model(torch.zeros(1, 2))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert seen[0] == 2
    seen.pop(0)
    assert seen == [torch.Size([1, 2])]
    assert hook_count(model) == 0


def test_hooks_see_only_their_own_thread():
    model = nn.Linear(2, 2)
    seen = []
    with Hooks() as hooks:
        hooks.forward(model, lambda m, a, o: seen.append(threading.get_ident()))
        other = threading.Thread(target=lambda: model(torch.zeros(1, 2)))
        other.start()
        other.join()
        model(torch.zeros(1, 2))
    assert seen == [threading.get_ident()]


def test_a_returned_value_replaces_the_output_and_hooks_need_a_block():
    model = nn.Linear(2, 2)
    with Hooks() as hooks:
        hooks.forward(model, lambda m, a, o: torch.zeros_like(o))
        assert torch.equal(model(torch.ones(1, 2)), torch.zeros(1, 2))
    with pytest.raises(RuntimeError, match="inside their"):
        hooks.forward(model, lambda m, a, o: None)
    assert hook_count(model) == 0


def test_hooks_kept_removes_a_frameworks_hooks_but_not_another_threads_hooks():
    """A job reading attention (inside ``hooks_kept``) while a view captures a layer in
    another thread: the view's hook must survive the job's clean-up."""
    from actscope.engine.preserve import hooks_kept

    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    layer = model[0]
    added, done = threading.Event(), threading.Event()
    seen: list[int] = []

    def view() -> None:
        with Hooks() as hooks:
            hooks.forward(layer, lambda _m, _a, _o: None)
            added.set()
            done.wait(5)
            seen.append(len(layer._forward_hooks))

    with hooks_kept(model):
        thread = threading.Thread(target=view)
        thread.start()
        assert added.wait(5)
        layer.register_forward_hook(lambda _m, _a, _o: None)  # as transformers adds its own
        assert len(layer._forward_hooks) == 2
    assert len(layer._forward_hooks) == 1  # the framework's hook went, the view's stayed
    done.set()
    thread.join(5)
    assert seen == [1]
    assert len(layer._forward_hooks) == 0
