import { describe, expect, it } from "vitest";
import { ViewStore } from "../src/store";
import { type LayerData, unitOrder, unitStats, type ViewMeta } from "../src/views/data";

function layer(kind: ViewMeta["kind"], shape: number[], values: number[], name = "l", input = 0): LayerData {
  const top = {
    units: new Int32Array(),
    values: new Float32Array(),
    other: new Float32Array(),
    pos: new Int32Array(),
  };
  return {
    meta: {
      layer: name,
      input,
      kind,
      shape,
      layer_shape: shape,
      unit_axis: 0,
      n_units: 0,
      nan: 0,
      posinf: 0,
      neginf: 0,
      min: 0,
      max: 0,
      trimmed: null,
    },
    act: new Float32Array(values),
    shape,
    top: { max: top, mean: top },
    image: null,
    bytes: values.length * 2,
  };
}

describe("per-unit summaries", () => {
  it("reads sequences as (T, D) with units last", () => {
    // 2 tokens × 3 neurons
    const d = layer("sequence", [2, 3], [1, 5, -1, 4, 0, Number.NaN]);
    const s = unitStats(d);
    expect(Array.from(s.max)).toEqual([4, 5, -1]);
    expect(Array.from(s.argmax)).toEqual([1, 0, 0]);
    expect(Array.from(s.mean)).toEqual([2.5, 2.5, -1]);
    expect(Array.from(unitOrder(d, "max"))).toEqual([1, 0, 2]);
    expect(Array.from(unitOrder(d, "mean"))).toEqual([0, 1, 2]);
    expect(Array.from(unitOrder(d, "index"))).toEqual([0, 1, 2]);
  });

  it("reads spatial maps as (C, H, W) with units first", () => {
    const d = layer("spatial", [2, 1, 2], [0, 1, 7, -7]);
    const s = unitStats(d);
    expect(Array.from(s.max)).toEqual([1, 7]);
    expect(Array.from(s.argmax)).toEqual([1, 0]);
    expect(Array.from(unitOrder(d, "mean"))).toEqual([0, 1]);
  });

  it("never ranks an all-NaN unit first", () => {
    const d = layer("vector", [3], [Number.NaN, -2, -3]);
    expect(Array.from(unitOrder(d, "max"))).toEqual([1, 2, 0]);
  });
});

describe("view store", () => {
  it("evicts the least recently used views beyond its byte budget", () => {
    const store = new ViewStore(4 * 1000 + 2 * 4096);
    store.put(layer("vector", [500], new Array(500).fill(0), "a"));
    store.put(layer("vector", [500], new Array(500).fill(0), "b"));
    expect(store.get(0, "a")).toBeDefined(); // a is now the most recent
    store.put(layer("vector", [500], new Array(500).fill(0), "c"));
    expect(store.has(0, "b")).toBe(false);
    expect(store.has(0, "a")).toBe(true);
    expect(store.has(0, "c")).toBe(true);
  });
});
