"""Clicking, typing and racing the explorer in a real JupyterLab."""

from __future__ import annotations

from .conftest import screenshot
from .test_lab import DIGITS, MINILM

DRAWN_LOG = """() => {
    window.__drawn = [];
    document.addEventListener('actscope:drawn', (e) => {
        const root = e.target;
        const now = { selected: root.dataset.layer, input_now: root.dataset.input };
        window.__drawn.push({ ...e.detail, ...now });
    });
}"""


ACTIVE_CELL = "() => window.jupyterapp.shell.currentWidget.content.activeCellIndex"
CHANGE_THEME = "(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})"


def drawn(page, key, timeout=15_000):
    page.wait_for_selector(f".acts-root[data-drawn='{key}']", timeout=timeout)


def test_click_through_layers_and_inputs_of_the_digits_cnn(notebook, page):
    nb = notebook(DIGITS)
    drawn(page, "0|features.conv1")
    for layer, tiles in [("features.relu2", 32), ("features.pool2", 64), ("features.conv4", 64)]:
        page.locator(f".acts-row[data-name='{layer}']").click()
        drawn(page, f"0|{layer}")
        assert page.locator(".acts-tile").count() == tiles
    page.locator(".acts-inputs button[title^='Next']").click()
    drawn(page, "1|features.conv4")
    nb.kernel.wait_for("[ex.layer, ex.input_index]", lambda v: v == ["features.conv4", 1])
    # A channel click selects the unit and shows it large over the input.
    page.locator(".acts-tile[data-unit='7']").click()
    nb.kernel.wait_for("ex.unit", lambda u: u == 7)
    page.wait_for_selector("canvas.acts-big[data-unit='7']")
    # Sorting by activation puts the strongest channel first.
    page.locator("button[data-sort='max']").click()
    first = page.locator(".acts-tile").first.get_attribute("data-unit")
    top = page.locator(".acts-rank-row").first.get_attribute("data-unit")
    assert first == top
    # Hover shows layer, channel, position and value.
    page.locator(".acts-tile canvas").first.hover()
    tip = page.locator(".acts-tooltip").inner_text()
    for part in ("features.conv4", "channel", "value"):
        assert part in tip
    screenshot(page, "interaction-digits-sorted", page.locator(".acts-root"))


def test_keyboard_moves_through_layers_and_inputs_without_moving_the_notebook(notebook, page):
    nb = notebook([*DIGITS, "x = 1"])
    drawn(page, "0|features.conv1")
    page.locator(".acts-layer-title").click()  # focus inside the widget (selects its cell)
    active_before = page.evaluate(ACTIVE_CELL)
    page.keyboard.press("ArrowDown")
    drawn(page, "0|features.relu1")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    drawn(page, "2|features.relu1")
    nb.kernel.wait_for("[ex.layer, ex.input_index]", lambda v: v == ["features.relu1", 2])
    page.keyboard.press("ArrowUp")
    drawn(page, "2|features.conv1")
    assert page.evaluate(ACTIVE_CELL) == active_before, (
        "arrow keys in the widget must not move between cells"
    )


def test_select_neurons_from_the_ranking_and_the_heatmap(notebook, page):
    nb = notebook(MINILM)
    drawn(page, "0|encoder.layer.3.intermediate", timeout=60_000)
    row = page.locator(".acts-rank-row").nth(2)
    unit = int(row.get_attribute("data-unit"))
    row.click()
    nb.kernel.wait_for("ex.unit", lambda u: u == unit)
    page.wait_for_selector(f".acts-token-text[data-unit='{unit}']")
    # A click on column 100 of the (index-sorted) heatmap selects neuron 100.
    canvas = page.locator(".acts-seq-canvas canvas")
    box = canvas.bounding_box()
    cell = box["width"] / 1536
    canvas.click(position={"x": 100 * cell + cell / 2, "y": 5})
    nb.kernel.wait_for("ex.unit", lambda u: u == 100)
    page.wait_for_selector(".acts-token-text[data-unit='100']")


def test_fifty_rapid_clicks_end_on_the_right_view(notebook, page):
    nb = notebook(DIGITS)
    drawn(page, "0|features.conv1")
    page.evaluate(DRAWN_LOG)
    layers = [
        "features.conv2",
        "classifier.fc1",
        "features.pool1",
        "features.conv4",
        "classifier.fc2",
    ]
    page.evaluate(
        """(layers) => {
            const rows = (n) => document.querySelector(`.acts-row[data-name='${n}']`);
            const inputs = () => document.querySelectorAll('.acts-input');
            for (let i = 0; i < 50; i++) {
                rows(layers[i % layers.length]).click();
                if (i % 7 === 3) inputs()[i % 5].click();
            }
        }""",
        layers,
    )
    # What the clicks select, worked out from the clicks themselves: the last layer row
    # clicked, and the last input clicked (the strip shows inputs 0-11 in order).
    final_layer = layers[49 % len(layers)]
    final_input = [i % 5 for i in range(50) if i % 7 == 3][-1]
    drawn(page, f"{final_input}|{final_layer}", timeout=30_000)
    nb.kernel.wait_for(
        "[ex.layer, ex.input_index]", lambda v: v == [final_layer, final_input], timeout=30
    )
    nb.kernel.wait_for(
        "__import__('actscope.widget', fromlist=['wire']).wire.decode(ex.layer_view)[0]['key']",
        lambda v: v == f"{final_input}|{final_layer}",
    )
    # Every draw on the way showed the selection of its moment, never a stale answer.
    events = page.evaluate("() => window.__drawn")
    assert events, "nothing was drawn"
    for e in events:
        assert e["layer"] == e["selected"], e
        assert str(e["input_index"]) == e["input_now"], e
    shown = page.locator(".acts-root").get_attribute("data-drawn")
    assert shown == f"{final_input}|{final_layer}"


XSS_CELLS = [
    """import torch, actscope
class WordTokenizer:
    model_max_length = 64
    def __init__(self, words): self.vocab = {w: i for i, w in enumerate(words)}; self.words = words
    def __call__(self, text, return_tensors=None, truncation=True, max_length=None, padding=False):
        ids = [self.vocab[w] for w in text.split("|")]
        return {"input_ids": torch.tensor([ids])}
    def convert_ids_to_tokens(self, ids): return [self.words[i] for i in ids]
words = ["hello", "<img src=x onerror=alert(1)>", "<b>bold</b>", "world"]
tok = WordTokenizer(words)
model = torch.nn.Sequential(torch.nn.Embedding(4, 8), torch.nn.Linear(8, 6)).eval()
forward = lambda m, batch: m(batch["input_ids"])
ex = actscope.Explorer(model, ["|".join(words)], tokenizer=tok, forward=forward,
                       labels=["<script>alert(2)</script>"], layer="1")
ex""",
]


def test_html_in_tokens_and_labels_is_shown_as_text(notebook, page):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    nb = notebook(XSS_CELLS)
    drawn(page, "0|1")
    labels = page.locator(".acts-seq-label").all_text_contents()
    assert labels == ["hello", "<img src=x onerror=alert(1)>", "<b>bold</b>", "world"]
    page.locator(".acts-rank-row").first.click()
    nb.kernel.wait_for("ex.unit", lambda u: u is not None)
    page.wait_for_selector(".acts-token-text")
    root = page.locator(".acts-root")
    assert root.locator("img").count() == 0
    assert root.locator("b").count() == 0
    assert root.locator("script").count() == 0
    assert "<script>alert(2)</script>" in page.locator(".acts-input-label").first.inner_text()
    # No element was made from the strings (checked above), so no handler can run later;
    # a script that ran while drawing would have opened its dialog already.
    assert not dialogs, f"a script ran: {dialogs}"


def test_dark_theme_redraws_on_a_dark_background(notebook, page):
    nb = notebook(DIGITS)
    drawn(page, "0|features.conv1")
    assert page.locator(".acts-root").get_attribute("data-theme") == "light"
    nb.kernel.run("ex.saliency_method = 'gradient'")
    saliency = page.locator("canvas.acts-saliency-map")
    saliency.wait_for(timeout=30_000)
    light_map = saliency.evaluate("c => c.toDataURL()")
    page.evaluate(CHANGE_THEME, "JupyterLab Dark")
    page.wait_for_selector(".acts-root[data-theme='dark']", timeout=15_000)
    # JupyterLab shows its splash while it swaps themes; look at the widget after it.
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=15_000)
    rgb = page.evaluate(
        """() => getComputedStyle(document.querySelector('.acts-root')).backgroundColor
            .match(/\\d+/g).slice(0, 3).map(Number)"""
    )
    assert sum(rgb) / 3 < 80, f"the widget's background stayed light: rgb{tuple(rgb)}"
    # The saliency map is redrawn in the dark theme's colour scale too: a real map (many
    # colours, not a blank canvas), darker than the light one (near-zero scores are white
    # on the light scale and near-black on the dark one).
    dark_map = page.locator("canvas.acts-saliency-map")
    assert dark_map.evaluate("c => c.toDataURL()") != light_map
    page.evaluate(f"() => {{ window.__canvasStats = {CANVAS_STATS}; }}")
    light = canvas_stats(page, light_map)
    dark = dark_map.evaluate("(c) => window.__canvasStats(c)")
    assert dark["colours"] >= 16, f"the dark map is (nearly) blank: {dark}"
    assert dark["median"] < light["median"] - 40, (light, dark)
    screenshot(page, "interaction-dark", page.locator(".acts-root"))


CANVAS_STATS = """(c) => {
    const g = c.getContext('2d');
    const px = g.getImageData(0, 0, c.width, c.height).data;
    const lum = [], colours = new Set();
    for (let i = 0; i < px.length; i += 4) {
        lum.push(0.2126 * px[i] + 0.7152 * px[i + 1] + 0.0722 * px[i + 2]);
        colours.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    }
    lum.sort((a, b) => a - b);
    return { median: lum[lum.length >> 1], colours: colours.size };
}"""


def canvas_stats(page, data_url):
    """CANVAS_STATS of an image saved with toDataURL (drawn back onto a fresh canvas)."""
    return page.evaluate(
        """async (url) => {
            const img = new Image();
            img.src = url;
            await img.decode();
            const c = document.createElement('canvas');
            c.width = img.width;
            c.height = img.height;
            c.getContext('2d').drawImage(img, 0, 0);
            return window.__canvasStats(c);
        }""",
        data_url,
    )


def test_errors_show_in_the_widget(notebook, page):
    nb = notebook(DIGITS)
    drawn(page, "0|features.conv1")
    nb.kernel.run("try:\n    ex.layer = 'features.conv7'\nexcept Exception as e:\n    err = e")
    banner = page.locator(".acts-banner.acts-shown")
    banner.wait_for(timeout=10_000)
    assert "Did you mean" in banner.inner_text()
    assert page.locator(".acts-status").inner_text() == "error"
    screenshot(page, "interaction-error", page.locator(".acts-root"))
