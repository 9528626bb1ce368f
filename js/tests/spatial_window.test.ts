// @vitest-environment happy-dom
// A spatial layer over one message's limit: a window of channels exact, every other channel
// drawn from its overview tiles, and the selected channel's whole map asked for and drawn
// exact (or, in a page without a kernel, its tiles with a note).
import { afterEach, describe, expect, it } from "vitest";
import { StaticModel } from "../src/standalone";
import { viewBlob } from "./helpers/encode";
import { mountLayerView } from "./helpers/layer_view";
import { layerInfo } from "./helpers/layers";
import { traits } from "./helpers/model";

const [C, H, W, SIZE] = [6, 2, 2, 2];
/** Channel c's value at (y, x): 10·c + 2y + x (so any pixel says where it is). */
const value = (c: number, y: number, x: number) => 10 * c + 2 * y + x;
const map = (c: number) => [0, 1].flatMap((y) => [0, 1].map((x) => value(c, y, x)));

/** The blob Python's `widget/window.py` makes: channels 0–1 exact, tiles of 2 × 2. */
function windowBlob(unit?: number): DataView {
  const window: Record<string, number> = { start: 0, stop: SIZE, positions: C };
  const channels = Array.from({ length: C }, (_, c) => c);
  const arrays: Record<string, { data: number[]; shape: number[]; dtype?: string }> = {
    overview: { data: channels.map((c) => value(c, 1, 1)), shape: [C, 1, 1] },
    unit_max: { data: channels.map((c) => value(c, 1, 1)), shape: [C] },
    unit_mean: { data: channels.map((c) => value(c, 0, 0) + 1.5), shape: [C] },
    unit_argmax: { data: channels.map(() => 3), shape: [C], dtype: "i32" },
    unit_count: { data: channels.map(() => 4), shape: [C], dtype: "i32" },
  };
  if (unit !== undefined) {
    window.unit = unit;
    arrays.column = { data: map(unit), shape: [H * W] };
  }
  return viewBlob(
    "a",
    0,
    "spatial",
    [SIZE, H, W],
    [0, 1].flatMap(map),
    {
      shape: [C, H, W],
      n_units: C,
      window,
      overview: { rows: 1, cols: 1, tile_rows: 2, tile_cols: 2 },
      trimmed: { shown: [SIZE, H, W], note: "channels 0–1 are exact here" },
    },
    arrays,
  );
}

function mount(offline = false) {
  const model = new StaticModel(
    traits({ layers_info: [layerInfo("a", { kind: "spatial", shape: [C, H, W] })] }),
  );
  const m = mountLayerView(model, offline);
  model.set("layer_view", windowBlob());
  return { model, ...m };
}

const flush = () => new Promise<void>((resolve) => queueMicrotask(resolve));
const exact = (root: HTMLElement) =>
  Array.from(root.querySelectorAll<HTMLElement>(".acts-tile")).map(
    (t) => `${t.dataset.unit}:${t.querySelector("canvas")?.dataset.exact}`,
  );

afterEach(() => document.body.replaceChildren());

describe("a spatial view cut along channels", () => {
  it("draws every channel, the window's exact and the others from tiles, no position strip", () => {
    const { root } = mount();
    expect(exact(root)).toEqual(["0:true", "1:true", "2:false", "3:false", "4:false", "5:false"]);
    const tile = root.querySelector<HTMLElement>(".acts-tile[data-unit='4'] canvas") as HTMLElement;
    expect([tile.getAttribute("width"), tile.getAttribute("height")]).toEqual(["1", "1"]);
    expect(root.querySelector<HTMLElement>(".acts-overview")?.hidden).toBe(true);
    tile.dispatchEvent(new MouseEvent("mousemove", { clientX: 1, clientY: 1, bubbles: true }));
    const tip = root.querySelector(".acts-tooltip")?.textContent ?? "";
    expect(tip).toContain("channel 4 (tiles)");
    expect(tip).toContain("y 0–1, x 0–1");
    expect(tip).toContain(`largest |value| ${value(4, 1, 1)}`);
  });

  it("asks for a selected channel's whole map and draws it large and exact", async () => {
    const { model, root, store, panel, sent } = mount();
    root.querySelector<HTMLElement>(".acts-tile[data-unit='4']")?.click();
    panel.setUnit(model.get("unit"));
    await flush();
    expect(sent.at(-1)).toEqual({ type: "fetch", id: -1, layer: "a", input_index: 0, start: 0, unit: 4 });
    const big = () => root.querySelector<HTMLElement>("canvas.acts-big");
    expect(big()?.dataset.exact).toBe("false");
    expect(root.querySelector(".acts-detail .acts-hint")?.textContent).toBe(
      "Drawn from tiles: its exact map is on its way.",
    );
    const grid = root.querySelector(".acts-grid");
    const entry = store.putBlob(windowBlob(4));
    panel.answered({ type: "layer_view", id: -1, key: "0|a" }, entry);
    expect(root.querySelector(".acts-grid")).toBe(grid); // the grid kept: the map only came
    expect(big()?.dataset.exact).toBe("true");
    expect(exact(root)[4]).toBe("4:true"); // its tile in the grid too
    expect(root.querySelector(".acts-detail .acts-hint")).toBeNull();
    const b = big() as HTMLElement;
    b.dispatchEvent(new MouseEvent("mousemove", { clientX: 130, clientY: 130, bubbles: true })); // (1, 1): 120 px a cell
    expect(root.querySelector(".acts-tooltip")?.textContent).toContain(`value ${value(4, 1, 1)}`);
  });

  it("in a page without a kernel, draws the channel from its tiles and says so", async () => {
    const { model, root, panel, sent } = mount(true);
    root.querySelector<HTMLElement>(".acts-tile[data-unit='5']")?.click();
    panel.setUnit(model.get("unit"));
    await flush();
    expect(sent).toHaveLength(0);
    expect(root.querySelector<HTMLElement>("canvas.acts-big")?.dataset.exact).toBe("false");
    expect(root.querySelector(".acts-detail .acts-hint")?.textContent).toBe(
      "Drawn from tiles: this page saved its tiles only.",
    );
  });

  it("asks again when a late reply brings another channel's map", async () => {
    const { model, root, store, panel, sent } = mount();
    const select = async (unit: number) => {
      root.querySelector<HTMLElement>(`.acts-tile[data-unit='${unit}']`)?.click();
      panel.setUnit(model.get("unit"));
      await flush();
    };
    const answer = (id: number, unit: number) =>
      panel.answered({ type: "layer_view", id, key: "0|a" }, store.putBlob(windowBlob(unit)));
    await select(4);
    await select(5);
    answer(-1, 4);
    await select(4); // channel 4's map is here: nothing asked
    expect(sent.map((m) => m.unit)).toEqual([4, 5]);
    answer(-2, 5); // late: it replaces channel 4's map
    await flush();
    expect(sent.at(-1)?.unit).toBe(4); // asked again
    answer(sent.at(-1)?.id ?? 0, 4);
    expect(root.querySelector<HTMLElement>("canvas.acts-big")?.dataset.exact).toBe("true");
  });

  it("asks nothing for a channel the window holds", async () => {
    const { model, root, panel, sent } = mount();
    root.querySelector<HTMLElement>(".acts-tile[data-unit='1']")?.click();
    panel.setUnit(model.get("unit"));
    await flush();
    expect(sent).toHaveLength(0);
    expect(root.querySelector<HTMLElement>("canvas.acts-big")?.dataset.exact).toBe("true");
  });
});
