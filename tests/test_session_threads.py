"""The session answers threads at once (the widget's jobs run in their own threads)."""

from __future__ import annotations

import threading

import torch

from actscope.engine.capture import capture
from actscope.engine.inputs import InputSet
from actscope.widget.session import Session


def test_threads_asking_at_once_get_what_one_thread_gets(digits):
    model, images, _ = digits
    layers = ["features.conv1", "features.conv2", "classifier.fc1"]
    with torch.no_grad(), capture(model, layers) as acts:
        model(images)
    expected = {name: acts[name] for name in layers}
    session = Session(model, InputSet.from_user(images), cache_size=2)  # evictions all along
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def ask(offset: int) -> None:
        try:
            start.wait()
            for step in range(24):
                i = (offset * 5 + step * 3) % len(images)
                layer = layers[(offset + step) % len(layers)]
                got = session.activation(layer, i)
                want = expected[layer][i].reshape(got.shape)
                assert torch.allclose(got, want, atol=1e-5), (layer, i)
                session.cached()
                if step % 7 == offset:
                    session.forget()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors[0]
    assert session.held_bytes() <= session.cache_bytes or len(session.cached()["all_layers"]) <= 1
