"""The explorer in a marimo notebook (run by tests/browser/test_hosts.py).

The dataset is slow to read on purpose (a few milliseconds an example), so that mining
it from the widget takes long enough to be cancelled part-way.
"""

import marimo

app = marimo.App()


@app.cell
def _():
    import time

    import marimo as mo
    import torch

    import actscope
    from actscope.demo.digits import digits_data, digits_demo

    class SlowDigits(torch.utils.data.Dataset):
        """Every digit 3 times over, each read taking 2 ms."""

        def __init__(self) -> None:
            self.images = digits_data()[0]

        def __len__(self) -> int:
            return 3 * len(self.images)

        def __getitem__(self, i: int) -> torch.Tensor:
            time.sleep(0.002)
            return self.images[i % len(self.images)]

    model, images, labels = digits_demo(8)
    ex = actscope.Explorer(model, images, labels=labels, dataset=SlowDigits())
    widget = mo.ui.anywidget(ex)
    return ex, mo, widget


@app.cell
def _(widget):
    widget


@app.cell
def _(ex, mo, widget):
    mined = ", ".join(f"{i.n_examples} examples" for i in ex.indexes) or "none"
    mo.md(f"python layer: **{widget.value['layer']}** · indexes: {mined}")


if __name__ == "__main__":
    app.run()
