"""The built-in image demo: a small CNN trained on scikit-learn's bundled digits.

The weights ship with the package (``digits_cnn.safetensors``, about 300 KB); this module
also holds the seeded training that made them, about a second on a CPU::

    python -m actscope.demo.digits          # retrain and overwrite the shipped weights
"""

from __future__ import annotations

import argparse
import pathlib
from collections import OrderedDict

import torch
from torch import nn

WEIGHTS = pathlib.Path(__file__).parent / "digits_cnn.safetensors"
CLASSES = [str(d) for d in range(10)]


class DigitsCNN(nn.Module):
    """Four 3×3 convolutions and two linear layers for 8×8 grey digits (10 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(1, 16, 3, padding=1),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(16, 32, 3, padding=1),
                relu2=nn.ReLU(),
                pool1=nn.MaxPool2d(2),
                conv3=nn.Conv2d(32, 64, 3, padding=1),
                relu3=nn.ReLU(),
                conv4=nn.Conv2d(64, 64, 3, padding=1),
                relu4=nn.ReLU(),
                pool2=nn.MaxPool2d(2),
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                flatten=nn.Flatten(),
                fc1=nn.Linear(64 * 2 * 2, 64),
                relu=nn.ReLU(),
                fc2=nn.Linear(64, 10),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classifier(self.features(x))
        return logits


def digits_data() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as ``(N, 1, 8, 8)`` floats in [0, 1], and their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    return images, labels


def split(n: int, seed: int = 0, test_fraction: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded train/test split of ``range(n)``."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = int(n * test_fraction)
    return order[n_test:], order[:n_test]


def train_digits_cnn(seed: int = 0, epochs: int = 12) -> tuple[DigitsCNN, float]:
    """Train the demo CNN from scratch; returns the model (eval mode) and test accuracy."""
    torch.manual_seed(seed)
    images, labels = digits_data()
    train, test = split(len(images), seed)
    model = DigitsCNN()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for batch in torch.split(train[torch.randperm(len(train), generator=generator)], 64):
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
            loss.backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(images[test]).argmax(1) == labels[test]).float().mean().item()
    return model, accuracy


def load_digits_cnn(path: pathlib.Path = WEIGHTS) -> DigitsCNN:
    """The trained demo CNN, in eval mode, from the weights shipped with actscope."""
    from safetensors.torch import load_file

    model = DigitsCNN()
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def digits_demo(n: int = 16) -> tuple[DigitsCNN, torch.Tensor, list[str]]:
    """The demo CNN, ``n`` test digits and their labels ("3", "7", ...), ready to explore."""
    images, labels = digits_data()
    _, test = split(len(images))
    chosen = test[:n]
    return load_digits_cnn(), images[chosen], [CLASSES[int(t)] for t in labels[chosen]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=WEIGHTS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from safetensors.torch import save_file

    model, accuracy = train_digits_cnn(args.seed)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(args.out))
    print(f"test accuracy {accuracy:.3f}; wrote {args.out} ({args.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
