// @vitest-environment happy-dom
// A long sequence view: the overview beside a window of exact positions, moving the window
// (asked of the kernel, or refused in a page without one), and the selected unit's column.
import { afterEach, describe, expect, it } from "vitest";
import { tileRange, windowStart } from "../src/components/overview";
import { type LayerData, layerViewFromBlob, unitOrder } from "../src/layouts/data";
import type { LayerViewPanel } from "../src/panels/layer_view";
import { StaticModel } from "../src/standalone";
import { storeKey, type ViewStore } from "../src/store";
import { viewBlob } from "./helpers/encode";
import { mountLayerView } from "./helpers/layer_view";
import { layerInfo } from "./helpers/layers";
import { traits } from "./helpers/model";

const [T, D, SIZE] = [10, 3, 4];
/** The layer: value 10·t + u at position t, unit u (so any cell says where it is). */
const value = (t: number, u: number) => 10 * t + u;
const TOKENS = Array.from({ length: T }, (_, t) => `tok${t}`);

/** The blob Python's `widget/window.py` makes for the window from `start` (tiles of 2 × 3). */
function windowBlob(start: number, unit?: number): DataView {
  const rows = Array.from({ length: SIZE }, (_, i) => start + i);
  const overview = Array.from({ length: T / 2 }, (_, i) => value(2 * i + 1, D - 1));
  const window: Record<string, number> = { start, stop: start + SIZE, positions: T };
  const arrays: Record<string, { data: number[]; shape: number[] }> = {
    overview: { data: overview, shape: [T / 2, 1] },
  };
  if (unit !== undefined) {
    window.unit = unit;
    arrays.column = { data: TOKENS.map((_, t) => value(t, unit)), shape: [T] };
  }
  return viewBlob(
    "a",
    0,
    "sequence",
    [SIZE, D],
    rows.flatMap((t) => [0, 1, 2].map((u) => value(t, u))),
    {
      shape: [T, D],
      tokens: TOKENS,
      window,
      overview: { rows: T / 2, cols: 1, tile_rows: 2, tile_cols: D },
      trimmed: { shown: [SIZE, D], note: `Positions ${start}–${start + SIZE - 1} of ${T} are exact here.` },
    },
    arrays,
  );
}

function mount(offline = false) {
  const model = new StaticModel(
    traits({ layers_info: [layerInfo("a", { kind: "sequence", shape: [T, D] })] }),
  );
  const { root, store, panel, sent } = mountLayerView(model, offline);
  model.set("layer_view", windowBlob(0));
  return { model, root, store, panel, sent };
}

const positions = (root: HTMLElement) =>
  Array.from(root.querySelectorAll<HTMLElement>(".acts-seq-label")).map((l) => Number(l.dataset.position));
/** Let the fetches queued in microtasks go out. */
const flush = () => new Promise<void>((resolve) => queueMicrotask(resolve));
/** The kernel's answer to fetch `id`: stored, then given to the panel, as the explorer does. */
function reply(store: ViewStore, panel: LayerViewPanel, id: number, blob: DataView | null, error?: string) {
  const entry = blob ? store.putBlob(blob) : null;
  panel.answered({ type: "layer_view", id, key: "0|a", ...(error ? { error } : {}) }, entry);
}
const button = (root: HTMLElement, step: string) =>
  root.querySelector<HTMLButtonElement>(`[data-step="${step}"]`) as HTMLButtonElement;

afterEach(() => document.body.replaceChildren());

describe("windows of a long view", () => {
  it("centres a clicked position on a grid of quarter windows, inside the layer", () => {
    expect(windowStart(0, 4, 10)).toBe(0);
    expect(windowStart(5, 4, 10)).toBe(3);
    expect(windowStart(9, 4, 10)).toBe(6); // the last window ends at the last position
    expect(windowStart(600, 100, 1024)).toBe(550);
    expect(tileRange(1, 2, 10)).toBe("2–3");
    expect(tileRange(2, 4, 10)).toBe("8–9"); // the last tile is narrower
  });

  it("files each window apart from the first", () => {
    expect(storeKey(layerViewFromBlob(windowBlob(0)))).toBe("0|a");
    expect(storeKey(layerViewFromBlob(windowBlob(4)))).toBe("0|a@4");
  });

  it("draws the window's positions and the overview, and asks for the next window", async () => {
    const { root, store, panel, sent } = mount();
    const strip = root.querySelector<HTMLElement>(".acts-overview") as HTMLElement;
    expect(strip.hidden).toBe(false);
    expect(strip.dataset.start).toBe("0");
    expect(positions(root)).toEqual([0, 1, 2, 3]);
    expect(button(root, "earlier").disabled).toBe(true);
    button(root, "later").click();
    button(root, "later").click(); // the same window again while it is in flight: asked once
    await flush();
    expect(sent).toEqual([{ type: "fetch", id: -1, layer: "a", input_index: 0, start: 4 }]);
    expect(root.dataset.drawn).toBe(""); // loading until it comes
    expect(panel.currentStoreKey()).toBe("0|a@4");
    reply(store, panel, -1, windowBlob(4));
    expect(positions(root)).toEqual([4, 5, 6, 7]);
    const labels = root.querySelectorAll<HTMLElement>(".acts-seq-label");
    expect(labels[0]?.textContent).toBe("tok4");
    button(root, "earlier").click(); // back to the first: stored, nothing asked
    await flush();
    expect(positions(root)).toEqual([0, 1, 2, 3]);
    expect(sent).toHaveLength(1);
  });

  it("says why a window could not be shown and goes back to the first", async () => {
    const { root, store, panel, sent } = mount();
    button(root, "later").click();
    await flush();
    reply(store, panel, sent[0]?.id ?? 0, null, "the kernel ran out of memory");
    expect(positions(root)).toEqual([0, 1, 2, 3]);
    expect(root.querySelector(".acts-overview-say")?.textContent).toBe(
      "Positions from 4 could not be shown: the kernel ran out of memory",
    );
    button(root, "later").click(); // no longer in flight: asked again
    await flush();
    expect(sent).toHaveLength(2);
  });

  it("asks for the selected unit's column and then colours every token by it", async () => {
    const { model, root, store, panel, sent } = mount();
    model.set("unit", 2);
    panel.setUnit(2);
    await flush();
    const title = () => root.querySelector(".acts-token-text .acts-detail-title")?.textContent ?? "";
    expect(title()).toContain("at positions 0–3");
    expect(root.querySelectorAll(".acts-token")).toHaveLength(SIZE);
    expect(sent.at(-1)).toEqual({ type: "fetch", id: -1, layer: "a", input_index: 0, start: 0, unit: 2 });
    const scroll = root.querySelector(".acts-seq-scroll") as HTMLElement;
    reply(store, panel, -1, windowBlob(0, 2));
    expect(root.querySelector(".acts-seq-scroll")).toBe(scroll); // not redrawn: the column only
    const tokens = root.querySelectorAll<HTMLElement>(".acts-token");
    expect(tokens).toHaveLength(T);
    expect(tokens[9]?.title).toBe(`token 9: ${value(9, 2)}`);
    expect(title()).not.toContain("at positions");
    panel.setUnit(2); // has it: not asked again
    await flush();
    expect(sent).toHaveLength(1);
  });

  it("asks for the column of a unit selected while a window loads, once it has come", async () => {
    const { model, root, store, panel, sent } = mount();
    button(root, "later").click();
    model.set("unit", 1);
    panel.setUnit(1); // nothing drawn: asked when the window comes
    await flush();
    expect(sent).toHaveLength(1);
    reply(store, panel, -1, windowBlob(4));
    await flush();
    expect(sent.at(-1)).toEqual({ type: "fetch", id: -2, layer: "a", input_index: 0, start: 4, unit: 1 });
  });

  it("follows a position selected elsewhere out of the window", async () => {
    const { model, sent } = mount();
    model.set("position", 2); // inside: nothing to do
    await flush();
    expect(sent).toHaveLength(0);
    model.set("position", 9);
    await flush();
    expect(sent).toEqual([{ type: "fetch", id: -1, layer: "a", input_index: 0, start: 6 }]);
  });

  it("in a page without a kernel, says which positions were not saved and stays", async () => {
    const { root, sent } = mount(true);
    button(root, "later").click();
    await flush();
    expect(sent).toHaveLength(0);
    expect(positions(root)).toEqual([0, 1, 2, 3]);
    expect(root.querySelector(".acts-overview-say")?.textContent).toContain(
      "Positions from 4 were not saved with this page",
    );
  });

  it("sorts units by the whole layer's statistics, not the window's", () => {
    const base = layerViewFromBlob(windowBlob(0)) as LayerData;
    expect(Array.from(unitOrder(base, "max"))).toEqual([2, 1, 0]); // the window's own
    const whole = {
      unit_max: { data: [99, 5, 7], shape: [3] },
      unit_mean: { data: [1, 3, 2], shape: [3] },
      unit_argmax: { data: [9, 0, 0], shape: [3], dtype: "i32" as const },
      unit_count: { data: [1, 10, 4], shape: [3], dtype: "i32" as const },
    };
    const blob = viewBlob(
      "a",
      0,
      "sequence",
      [SIZE, D],
      new Array(SIZE * D).fill(1),
      {
        shape: [T, D],
        window: { start: 0, stop: SIZE, positions: T },
        overview: { rows: T / 2, cols: 1, tile_rows: 2, tile_cols: D },
      },
      { overview: { data: new Array(T / 2).fill(1), shape: [T / 2, 1] }, ...whole },
    );
    const data = layerViewFromBlob(blob) as LayerData;
    expect(Array.from(unitOrder(data, "max"))).toEqual([0, 2, 1]); // unit 0 peaks at position 9
    expect(Array.from(unitOrder(data, "mean"))).toEqual([1, 2, 0]);
    expect(Array.from(unitOrder(data, "count"))).toEqual([1, 2, 0]);
  });

  it("in a page, steps through the windows it saved and snaps a click to the one holding it", async () => {
    const { root, store, panel, sent } = mount(true);
    for (const start of [4, 6]) store.pin(layerViewFromBlob(windowBlob(start))); // as saved
    button(root, "later").click();
    expect(positions(root)).toEqual([4, 5, 6, 7]);
    button(root, "later").click(); // the last, ending at the last position
    expect(positions(root)).toEqual([6, 7, 8, 9]);
    expect(button(root, "later").disabled).toBe(true);
    // a click on the overview asks for the window centred on position 5 (from 3): the saved
    // window from 4 holds it
    (panel as unknown as { moveWindow(start: number): void }).moveWindow(3);
    expect(positions(root)).toEqual([4, 5, 6, 7]);
    await flush();
    expect(sent).toHaveLength(0);
  });

  it("clips colours at the whole layer's peak, the same for every window", () => {
    const { model, root } = mount();
    const hi = () => root.querySelector(".acts-legend-hi")?.textContent;
    const first = hi();
    const blob = (start: number, clip: number) => {
      const data = layerViewFromBlob(windowBlob(start)) as LayerData;
      return viewBlob(
        "a",
        0,
        "sequence",
        [SIZE, D],
        Array.from(data.act, (v) => v / 2), // other values: drawn anew
        {
          ...data.meta,
          window: { start, stop: start + SIZE, positions: T, clip },
        },
        { overview: { data: Array.from(data.overview ?? []), shape: [T / 2, 1] } },
      );
    };
    model.set("layer_view", blob(0, 20));
    expect(hi()).toBe("20");
    expect(first).not.toBe("20"); // without it, the window's own
  });

  it("hides the overview for a view that fits whole", () => {
    const { model, root } = mount();
    model.set("layer_view", viewBlob("a", 0, "sequence", [2, 3], [1, 2, 3, 4, 5, 6]));
    expect((root.querySelector(".acts-overview") as HTMLElement).hidden).toBe(true);
  });
});
