// @vitest-environment happy-dom
// The logit lens panel on its own: layers × positions with each cell's top token, the
// selected position's column, and why it has nothing to draw.
import { afterEach, describe, expect, it } from "vitest";
import { LensPanel } from "../src/panels/lens";
import { GARBAGE, hover, lensBlob, panelHost, unavailableBlob } from "./helpers/panels";

const NAMES = { 1: "Ġthe", 2: "Ġcat", 3: "Ċ", 4: "<i>x</i>" };
// Two layers, three positions, top 2: the last layer's top tokens are the final predictions.
const LENS = lensBlob(
  0,
  ["h.0", "h.1"],
  ["The", "Ġcat", "Ġsat"],
  [
    [
      [
        [4, 0.2],
        [1, 0.1],
      ],
      [
        [1, 0.3],
        [2, 0.2],
      ],
      [
        [3, 0.05],
        [1, 0.04],
      ],
    ],
    [
      [
        [2, 0.6],
        [1, 0.3],
      ],
      [
        [1, 0.9],
        [3, 0.05],
      ],
      [
        [3, 0.5],
        [2, 0.1],
      ],
    ],
  ],
  NAMES,
  [
    [4, 0, 0],
    [0, 0, 0],
  ],
);

function mount(extra: Record<string, unknown> = {}, offline = false) {
  const m = panelHost(extra, offline);
  const panel = new LensPanel(m.host);
  m.root.append(panel.el);
  const el = panel.el;
  const text = (sel: string) => Array.from(el.querySelectorAll(sel)).map((e) => e.textContent);
  const selected = () =>
    Array.from(el.querySelectorAll<HTMLElement>(".acts-on")).map((e) => `${e.tagName}:${e.dataset.position}`);
  return { ...m, panel, el, text, selected };
}

afterEach(() => document.body.replaceChildren());

describe("LensPanel", () => {
  it("draws layers × positions, the first layer on top, each cell its top token", () => {
    const { el, text } = mount({ lens_view: LENS });
    expect(el.dataset.lens).toBe("drawn");
    expect(text(".acts-lens-col")).toEqual(["The", "␣cat", "␣sat"]);
    expect(text(".acts-lens-layer")).toEqual(["h.0", "h.1"]);
    expect(text("tbody tr:first-child .acts-lens-cell")).toEqual(["<i>x</i>", "␣the", "⏎"]);
    expect(text("tbody tr:last-child .acts-lens-cell")).toEqual(["␣cat", "␣the", "⏎"]);
    expect(el.querySelector("i")).toBeNull(); // token text, never HTML
    // the colour follows the top probability; the final prediction is marked where it is top
    const cells = Array.from(el.querySelectorAll<HTMLElement>(".acts-lens-cell"));
    expect(cells[0]?.style.background).not.toBe(cells[4]?.style.background);
    expect(cells.map((c) => c.classList.contains("acts-lens-final"))).toEqual([
      false,
      true,
      true,
      true,
      true,
      true,
    ]);
  });

  it("marks the selected position's column (the last while none is selected)", () => {
    const { model, el, panel, selected, commits } = mount({ lens_view: LENS });
    expect(selected()).toEqual(["TH:2", "TD:2", "TD:2"]);
    el.querySelector<HTMLElement>(".acts-lens-col[data-position='0']")?.click();
    expect(model.get("position")).toBe(0);
    expect(commits()).toBe(1);
    panel.show(); // the explorer does on a position change
    expect(selected()).toEqual(["TH:0", "TD:0", "TD:0"]);
    el.querySelector<HTMLElement>(".acts-lens-cell[data-position='1']")?.click(); // a cell, too
    expect(model.get("position")).toBe(1);
  });

  it("numbers a long input's last positions from where they start, and says so", () => {
    // The same lens as the last 3 positions of a 103-token input.
    const late = lensBlob(
      0,
      ["h.0", "h.1"],
      ["The", "Ġcat", "Ġsat"],
      [
        [[[4, 0.2]], [[1, 0.3]], [[3, 0.05]]],
        [[[2, 0.6]], [[1, 0.9]], [[3, 0.5]]],
      ],
      NAMES,
      [
        [4, 0, 0],
        [0, 0, 0],
      ],
      100,
    );
    const { model, el, tooltip, selected, panel } = mount({ lens_view: late, position: 101 });
    expect(el.querySelector(".acts-lens-top .acts-label")?.textContent).toContain(
      "positions 100–102, the last 3",
    );
    expect(selected()).toEqual(["TH:101", "TD:101", "TD:101"]);
    el.querySelector<HTMLElement>(".acts-lens-col[data-position='102']")?.click();
    expect(model.get("position")).toBe(102);
    panel.show();
    expect(selected()).toEqual(["TH:102", "TD:102", "TD:102"]);
    hover(el.querySelector(".acts-lens-cell[data-layer='0'][data-position='100']") as Element);
    expect(tooltip.el.textContent?.split("\n")[0]).toBe("h.0 · position 100 “The”");
  });

  it("tells a cell's top k and the rank of the final prediction on hover", () => {
    const { el, tooltip } = mount({ lens_view: LENS });
    hover(el.querySelector(".acts-lens-cell[data-layer='0'][data-position='0']") as Element);
    expect(tooltip.el.textContent).toBe(
      [
        "h.0 · position 0 “The”",
        "   20.0%  “<i>x</i>”",
        "   10.0%  “␣the”",
        "final prediction “␣cat”: rank 5, 16.7%",
      ].join("\n"),
    );
  });

  it("ignores an answer for another input", () => {
    const { model, el } = mount();
    model.set("lens_view", lensBlob(1, ["h.0"], ["a"], [[[[1, 0.5]]]], NAMES, [[0]]));
    expect(el.dataset.lens).toBe("loading");
    expect(el.querySelector(".acts-lens-grid")).toBeNull();
  });

  it("collapses to one quiet line for a model that is not a causal LM", () => {
    const { model, el } = mount();
    model.set("lens_view", unavailableBlob("0", "The logit lens needs a causal language model."));
    expect(el.dataset.lens).toBe("unavailable");
    expect(el.querySelectorAll(".acts-quiet-line").length).toBe(1);
    expect(el.textContent).toBe("Logit lensThe logit lens needs a causal language model.");
  });

  it("shows an unreadable blob as an error in place, and draws the next good one", () => {
    const { model, el } = mount();
    model.set("lens_view", GARBAGE);
    expect(el.dataset.lens).toBe("error");
    expect(el.querySelector(".acts-saliency-error")?.textContent).toMatch(/^The logit lens sent by Python/);
    model.set("lens_view", LENS);
    expect(el.dataset.lens).toBe("drawn");
  });

  it("draws a snapshot's lens offline, says which were not saved, and errs on a bad entry", () => {
    const { model, el, panel } = mount({}, true);
    const entry = lensBlob(1, ["h.0"], ["a"], [[[[1, 0.5]]]], NAMES, [[0]]);
    panel.loadSnapshot(
      new Map([
        ["1", entry],
        ["0", GARBAGE],
      ]),
    );
    panel.show();
    expect(el.dataset.lens).toBe("error");
    expect(el.querySelector(".acts-saliency-error")?.textContent).toMatch(
      /^The saved logit lens could not be read/,
    );
    model.set("input_index", 1);
    panel.show();
    expect(el.dataset.lens).toBe("drawn");
    expect(el.querySelectorAll(".acts-lens-cell").length).toBe(1);
    model.set("input_index", 2);
    panel.show();
    expect(el.dataset.lens).toBe("missing");
    expect(el.querySelector(".acts-hint")?.textContent).toMatch(/^not saved in this snapshot/);
  });
});
