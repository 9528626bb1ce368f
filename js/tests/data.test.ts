import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  descending,
  fromDecoded,
  isFailure,
  type LayerData,
  layerViewFromBlob,
  layout,
  unitOrder,
  unitStats,
} from "../src/layouts/data";
import type { Kind } from "../src/traits";
import { decode } from "../src/wire";
import { encodeBlob, errorBlob, type TestArray, viewBlob } from "./helpers/encode";

function layer(kind: Kind, shape: number[], values: number[]): LayerData {
  const entry = layerViewFromBlob(viewBlob("l", 0, kind, shape, values));
  if (isFailure(entry)) throw new Error("not data");
  return entry;
}

describe("per-unit summaries", () => {
  it("reads sequences as (T, D) with units last", () => {
    // 2 tokens × 3 neurons
    const d = layer("sequence", [2, 3], [1, 5, -1, 4, 0, Number.NaN]);
    expect(layout(d)).toEqual({ units: 3, positions: 2, unitsLast: true });
    const s = unitStats(d);
    expect(Array.from(s.max)).toEqual([4, 5, -1]);
    expect(Array.from(s.argmax)).toEqual([1, 0, 0]);
    expect(Array.from(s.mean)).toEqual([2.5, 2.5, -1]);
    expect(Array.from(s.active)).toEqual([2, 1, 0]); // > 0: not 0, not NaN
    expect(Array.from(unitOrder(d, "count"))).toEqual([0, 1, 2]);
    expect(unitStats(d)).toBe(s); // computed once
    expect(Array.from(unitOrder(d, "max"))).toEqual([1, 0, 2]);
    expect(Array.from(unitOrder(d, "mean"))).toEqual([0, 1, 2]);
    expect(Array.from(unitOrder(d, "index"))).toEqual([0, 1, 2]);
  });

  it("reads spatial maps as (C, H, W) with units first", () => {
    const d = layer("spatial", [2, 1, 2], [0, 1, 7, -7]);
    expect(layout(d)).toEqual({ units: 2, positions: 2, unitsLast: false });
    const s = unitStats(d);
    expect(Array.from(s.max)).toEqual([1, 7]);
    expect(Array.from(s.argmax)).toEqual([1, 0]);
    expect(Array.from(unitOrder(d, "mean"))).toEqual([0, 1]);
  });

  it("never ranks an all-NaN unit first", () => {
    const d = layer("vector", [3], [Number.NaN, -2, -3]);
    expect(Array.from(unitOrder(d, "max"))).toEqual([1, 2, 0]);
    expect(Number.isNaN(unitStats(d).mean[0])).toBe(true);
  });

  it("orders descending, NaN last, ties to the lower index", () => {
    expect(Array.from(descending([1, 3, 3, Number.NaN, 2]))).toEqual([1, 2, 4, 0, 3]);
    expect(Array.from(descending([Number.NaN, 1, Number.NaN, 1]))).toEqual([1, 3, 0, 2]);
    expect(Array.from(descending([Number.NaN, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]))).toEqual([
      2, 1, 0,
    ]);
    expect(Array.from(descending([]))).toEqual([]);
  });
});

/** A lens's (3 positions × 5 features) view: each position's count, index gaps (under 128:
 * one byte each) and values. */
function sparseBlob(counts: number[], gaps: number[], vals: number[]): DataView {
  return sparseView(
    {
      sp_counts: { data: counts, shape: [counts.length], dtype: "u16" },
      sp_gaps: { data: gaps, shape: [gaps.length], dtype: "u8raw" },
      sp_vals: { data: vals, shape: [vals.length] },
    },
    [3, 5],
    vals.length,
  );
}

/** A lens's (T × F) view as panels/layer_view.py sends it: `arrays` its sparse values. */
function sparseView(arrays: Record<string, TestArray>, shape: number[], active: number): DataView {
  const [T, F] = shape as [number, number];
  const none: TestArray = { data: [0], shape: [1], dtype: "i32" };
  const meta = {
    key: "0|l/sae",
    layer: "l/sae",
    input_index: 0,
    kind: "sequence",
    shape,
    layer_shape: shape,
    unit_axis: 1,
    n_units: F,
    nan: 0,
    posinf: 0,
    neginf: 0,
    min: 0,
    max: 4,
    trimmed: null,
    sparse: { active, density: active / (T * F) },
  };
  return encodeBlob(meta, {
    ...arrays,
    rank_max_units: none,
    rank_max_max: { data: [0], shape: [1] },
    rank_max_mean: { data: [0], shape: [1] },
    rank_max_argmax: none,
    rank_mean_units: none,
    rank_mean_max: { data: [0], shape: [1] },
    rank_mean_mean: { data: [0], shape: [1] },
    rank_mean_argmax: none,
  });
}

describe("decoding a sparse layer view (a lens's features)", () => {
  const { features, rows, counts, gaps } = JSON.parse(
    readFileSync(new URL("./fixtures/contract.json", import.meta.url), "utf8"),
  ).sparse as { features: number; rows: number[][]; counts: number[]; gaps: number[] };
  const gapView = (bytes: number[], n = rows.flat().length) =>
    sparseView(
      {
        sp_counts: { data: counts, shape: [counts.length], dtype: "u16" },
        sp_gaps: { data: bytes, shape: [bytes.length], dtype: "u8raw" },
        sp_vals: { data: Array.from({ length: n }, (_, i) => i + 1), shape: [n] },
      },
      [counts.length, features],
      n,
    );

  it("reads each position's features from the gaps Python wrote (one to three bytes each)", () => {
    const entry = layerViewFromBlob(gapView(gaps));
    if (isFailure(entry)) throw new Error("not data");
    expect(entry.shape).toEqual([rows.length, features]);
    const found: number[][] = rows.map(() => []);
    const values: number[] = [];
    entry.act.forEach((v, i) => {
      if (v === 0) return;
      found[Math.floor(i / features)]?.push(i % features);
      values.push(v);
    });
    expect(found).toEqual(rows);
    expect(values).toEqual(Array.from({ length: values.length }, (_, i) => i + 1)); // in order
  });

  it("refuses gaps that end early, run past the features or are left over", () => {
    expect(() => layerViewFromBlob(gapView(gaps.slice(0, -1)))).toThrow(/sparse/);
    expect(() => layerViewFromBlob(gapView([...gaps, 0]))).toThrow(/do not match/);
    expect(() => layerViewFromBlob(gapView([255, 255, 3, ...gaps.slice(1)]))).toThrow(/feature \d+ of 60000/);
  });

  it("fills in the active features of each position, zeros elsewhere", () => {
    const entry = layerViewFromBlob(sparseBlob([2, 0, 1], [1, 2, 0], [2, 4, 3])); // 1, 4 | | 0
    if (isFailure(entry)) throw new Error("not data");
    expect(entry.shape).toEqual([3, 5]);
    expect(Array.from(entry.act)).toEqual([0, 2, 0, 0, 4, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0]);
    expect(Array.from(unitStats(entry).max)).toEqual([3, 2, 0, 0, 4]);
  });

  it("refuses counts that do not match the entries, and features out of range", () => {
    expect(() => layerViewFromBlob(sparseBlob([2, 0, 0], [1, 2, 0], [2, 4, 3]))).toThrow(/do not match/);
    expect(() => layerViewFromBlob(sparseBlob([1, 0, 0], [7], [2]))).toThrow(/feature 7 of 5/);
    const wrong = sparseView({ sp_counts: { data: [0], shape: [1], dtype: "i32" } }, [1, 5], 0);
    expect(() => layerViewFromBlob(wrong)).toThrow(/wrong types/);
  });
});

describe("decoding a layer-view blob", () => {
  it("reads the activation, the image and both rankings", () => {
    const blob = viewBlob(
      "enc.1",
      4,
      "spatial",
      [2, 1, 1],
      [3, 7],
      {},
      {
        image: { data: [1, 2, 3, 4, 5, 6], shape: [1, 2, 3], dtype: "u8raw" },
        rank_max_units: { data: [1, 0], shape: [2], dtype: "i32" },
        rank_max_max: { data: [7, 3], shape: [2] },
        rank_max_mean: { data: [7, 3], shape: [2] },
        rank_max_argmax: { data: [0, 0], shape: [2], dtype: "i32" },
        rank_mean_units: { data: [1, 0], shape: [2], dtype: "i32" },
        rank_mean_mean: { data: [7, 3], shape: [2] },
      },
    );
    const d = fromDecoded(decode(blob));
    if (isFailure(d)) throw new Error("not data");
    expect(d.meta).toMatchObject({ key: "4|enc.1", layer: "enc.1", input_index: 4, kind: "spatial" });
    expect(d.shape).toEqual([2, 1, 1]);
    expect(Array.from(d.ranking.max.units)).toEqual([1, 0]);
    expect(Array.from(d.ranking.max.max)).toEqual([7, 3]);
    expect(d.ranking.max.argmax).toBeInstanceOf(Int32Array);
    expect(Array.from(d.ranking.mean.mean)).toEqual([7, 3]);
    expect(d.image).toMatchObject({ h: 1, w: 2 });
    expect(Array.from(d.image?.data ?? [])).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("keeps an error blob as the answer to its key", () => {
    const d = layerViewFromBlob(errorBlob("0|x", "boom", { layer: "x", input_index: 0 }));
    expect(isFailure(d)).toBe(true);
    expect(d.meta).toEqual({ key: "0|x", error: "boom", layer: "x", input_index: 0 });
  });
});
