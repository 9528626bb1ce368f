// @vitest-environment happy-dom
// The layer view panel on its own: keys, the loading state and notes, sorting, the legend's
// clip toggle, the ranking, and the drawn event.
import { afterEach, describe, expect, it } from "vitest";
import { isFailure, layerViewFromBlob } from "../src/layouts/data";
import { fingerprint, transposed } from "../src/panels/layer_view";
import { StaticModel } from "../src/standalone";
import { errorBlob, viewBlob } from "./helpers/encode";
import { mountLayerView } from "./helpers/layer_view";
import { layerInfo } from "./helpers/layers";
import { traits } from "./helpers/model";

const SPATIAL = layerInfo("conv", { kind: "spatial", shape: [3, 1, 2], type: "Conv2d" });

function mount(extra: Record<string, unknown> = {}, offline = false) {
  const model = new StaticModel(traits(extra));
  const { root, store, panel, selected, drawn } = mountLayerView(model, offline);
  const events: CustomEvent[] = [];
  root.addEventListener("actscope:drawn", (e) => events.push(e as CustomEvent));
  return { model, root, store, panel, selected, drawn, events };
}

const tiles = (root: HTMLElement): string[] =>
  Array.from(root.querySelectorAll<HTMLElement>(".acts-tile")).map((t) => t.dataset.unit ?? "");

afterEach(() => document.body.replaceChildren());

describe("LayerViewPanel", () => {
  it("draws the stored view whose key is the selection, and nothing else", () => {
    const { model, root, store, panel, events, drawn } = mount();
    store.putBlob(viewBlob("a", 1, "sequence", [4, 3], new Array(12).fill(1))); // another input
    panel.show();
    expect(root.dataset.drawn).toBe("");
    expect(root.classList.contains("acts-loading")).toBe(true);
    expect(root.dataset.layer).toBe("a");
    expect(root.dataset.input).toBe("0");
    model.set("layer_view", viewBlob("a", 0, "sequence", [4, 3], new Array(12).fill(1)));
    expect(root.dataset.drawn).toBe("0|a");
    expect(root.classList.contains("acts-loading")).toBe(false);
    expect(panel.drawn).toBe("0|a");
    expect(drawn).toEqual(["0|a"]);
    expect(events.map((e) => e.detail.input_index)).toEqual([0]);
    panel.show(); // the same data again: not drawn twice
    expect(events.length).toBe(1);
    panel.redraw();
    expect(events.length).toBe(2);
  });

  it("files a trait blob for another selection without drawing it", () => {
    const { model, root, store } = mount();
    model.set("layer_view", viewBlob("b", 0, "vector", [5], [1, 2, 3, 4, 5]));
    expect(root.dataset.drawn ?? "").toBe("");
    expect(store.has("0|b")).toBe(true);
  });

  it("titles the layer and notes a layer with no tensor, or one not saved", () => {
    const layers = [layerInfo("c", { kind: "none", shape: null, calls: 0, type: "Dropout" }), SPATIAL];
    const { root, panel, model } = mount({ layers_info: layers, layer: "c" }, true);
    panel.show();
    expect(root.querySelector(".acts-layer-name")?.textContent).toBe("c");
    expect(root.querySelector(".acts-layer-title .acts-type")?.textContent).toBe("Dropout");
    expect(root.querySelector(".acts-missing")?.textContent).toBe(
      "c (Dropout) returned no tensor: it did not run for this input. Pick another layer.",
    );
    model.set("layer", "conv");
    panel.show();
    expect(root.querySelector(".acts-layer-title .acts-shape")?.textContent).toBe("3×1×2");
    expect(root.querySelector(".acts-missing")?.textContent).toMatch(/not saved with the page/);
    expect(root.classList.contains("acts-loading")).toBe(false);
  });

  it("sorts units by max or mean, and back to index order", () => {
    const { root, model, panel } = mount({ layers_info: [SPATIAL], layer: "conv" });
    model.set("layer_view", viewBlob("conv", 0, "spatial", [3, 1, 2], [1, 1, 9, -9, 5, 5]));
    expect(tiles(root)).toEqual(["0", "1", "2"]);
    const button = (mode: string) =>
      root.querySelector<HTMLElement>(`button[data-sort='${mode}']`) as HTMLElement;
    button("max").click();
    expect(tiles(root)).toEqual(["1", "2", "0"]);
    expect(button("max").classList.contains("acts-on")).toBe(true);
    expect(button("index").classList.contains("acts-on")).toBe(false);
    button("mean").click();
    expect(tiles(root)).toEqual(["2", "0", "1"]);
    button("index").click();
    expect(tiles(root)).toEqual(["0", "1", "2"]);
    expect(panel.drawn).toBe("0|conv");
  });

  it("sorts a lens's features by max until the user picks a sort", () => {
    const feats = layerInfo("blk/sae", { kind: "sequence", shape: [1, 4], features_of: "blk", type: "SAE" });
    const plain = layerInfo("blk", { kind: "sequence", shape: [1, 4] });
    const { root, model } = mount({ layers_info: [plain, feats], layer: "blk/sae" });
    const on = () => root.querySelector<HTMLElement>("button.acts-on[data-sort]")?.dataset.sort;
    model.set("layer_view", viewBlob("blk/sae", 0, "sequence", [1, 4], [0, 3, 0, 1]));
    expect(on()).toBe("max");
    model.set("layer", "blk");
    model.set("layer_view", viewBlob("blk", 0, "sequence", [1, 4], [1, 2, 3, 4]));
    expect(on()).toBe("index");
    root.querySelector<HTMLElement>("button[data-sort='mean']")?.click();
    model.set("layer", "blk/sae");
    model.set("layer_view", viewBlob("blk/sae", 0, "sequence", [1, 4], [0, 3, 0, 1]));
    expect(on()).toBe("mean");
  });

  it("toggles the legend between the clipped and the full range", () => {
    const { root, model } = mount({ layers_info: [SPATIAL], layer: "conv" });
    model.set("layer_view", viewBlob("conv", 0, "spatial", [3, 1, 2], [1, 1, 1, 1, 1, 100]));
    const clip = () => root.querySelector<HTMLElement>(".acts-clip") as HTMLElement;
    expect(clip().dataset.clip).toBe("true");
    clip().click();
    expect(clip().dataset.clip).toBe("false");
    expect(root.querySelector(".acts-legend-hi")?.textContent).toBe("100");
  });

  it("ranks the units, selects one on click, and marks it", () => {
    const { root, model, panel, selected } = mount({ layers_info: [SPATIAL], layer: "conv" });
    const blob = viewBlob(
      "conv",
      0,
      "spatial",
      [3, 1, 2],
      [1, 1, 9, -9, 5, 5],
      {},
      {
        rank_max_units: { data: [1, 2, 0], shape: [3], dtype: "i32" },
        rank_max_max: { data: [9, 5, 1], shape: [3] },
        rank_max_mean: { data: [0, 5, 1], shape: [3] },
        rank_max_argmax: { data: [0, 0, 0], shape: [3], dtype: "i32" },
      },
    );
    model.set("layer_view", blob);
    const rows = root.querySelectorAll<HTMLElement>(".acts-rank-row");
    expect(Array.from(rows).map((r) => r.dataset.unit)).toEqual(["1", "2", "0"]);
    rows[1]?.click();
    expect(selected).toEqual([2]);
    panel.setUnit(2);
    expect(root.querySelector(".acts-rank-row.acts-selected")?.getAttribute("data-unit")).toBe("2");
    expect(root.querySelector(".acts-tile.acts-selected")?.getAttribute("data-unit")).toBe("2");
  });

  it("notes layouts without an image or sequence, trimmed views and repeated calls", () => {
    const other = layerInfo("o", { kind: "other", shape: [2, 3], calls: 2 });
    const { root, model } = mount({ layers_info: [other], layer: "o" });
    const trimmed = { shown: [2, 3], note: "Showing the first 2 of 9 units." };
    model.set("layer_view", viewBlob("o", 0, "other", [2, 3], [1, 2, 3, 4, 5, 6], { trimmed, unit_axis: 0 }));
    const note = root.querySelector(".acts-note")?.textContent ?? "";
    expect(note).toContain("Shape 2×3 has no image or sequence layout");
    expect(note).toContain("Showing the first 2 of 9 units.");
    expect(note).toContain("runs 2 times per forward pass");
    expect(root.querySelectorAll(".acts-seq-label").length).toBe(3); // positions as rows
  });

  it("shows an error that answers the selection", () => {
    const { root, model, events } = mount();
    model.set("layer_view", errorBlob("0|a", "Index 7 is out of range", { layer: "a", input_index: 0 }));
    expect(root.querySelector(".acts-missing.acts-view-error")?.textContent).toBe("Index 7 is out of range");
    expect(root.dataset.drawn).toBe("0|a");
    expect(events.length).toBe(1);
  });

  it("pins a snapshot's views, and counts the damaged ones", () => {
    const { panel, root } = mount();
    const good = viewBlob("a", 0, "sequence", [4, 3], new Array(12).fill(0));
    const bad = new DataView(new Uint8Array([65, 67, 84, 49, 255, 0, 0, 0]).buffer); // header past the end
    const result = panel.pin(
      new Map([
        ["0|a", good],
        ["1|a", bad],
      ]),
    );
    expect(result.pinned).toBe(1);
    expect(result.damaged).toBe(1);
    expect(result.reason).toMatch(/truncated blob/);
    panel.show();
    expect(root.dataset.drawn).toBe("0|a");
  });
});

describe("layer view helpers", () => {
  it("transposes (units, positions) into (positions, units)", () => {
    const d = layerViewFromBlob(viewBlob("o", 0, "other", [2, 3], [1, 2, 3, 4, 5, 6], { tokens: ["x"] }));
    if (isFailure(d)) throw new Error("not data");
    const t = transposed(d);
    expect(t.shape).toEqual([3, 2]);
    expect(Array.from(t.act)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(t.meta.kind).toBe("sequence");
    expect(t.meta.tokens).toBeUndefined();
  });

  it("fingerprints views by key and content", () => {
    const a = layerViewFromBlob(viewBlob("a", 0, "vector", [3], [1, 2, 3]));
    const b = layerViewFromBlob(viewBlob("a", 0, "vector", [3], [1, 2, 4]));
    const c = layerViewFromBlob(viewBlob("a", 1, "vector", [3], [1, 2, 3]));
    expect(fingerprint(a)).toBe(fingerprint(layerViewFromBlob(viewBlob("a", 0, "vector", [3], [1, 2, 3]))));
    expect(fingerprint(a)).not.toBe(fingerprint(b));
    expect(fingerprint(a)).not.toBe(fingerprint(c));
    expect(fingerprint(layerViewFromBlob(errorBlob("0|a", "x")))).not.toBe(fingerprint(a));
  });
});
