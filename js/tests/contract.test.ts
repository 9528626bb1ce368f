// The key functions and the order of units against cases Python wrote
// (src/actscope/widget/contract.py writes tests/fixtures/contract.json).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { descending, isFailure, layerViewFromBlob, unitOrder } from "../src/layouts/data";
import { saliencyTargetKey } from "../src/panels/saliency";
import { groupText } from "../src/panels/specific";
import {
  attentionKey,
  effectsKey,
  examplesKey,
  layerViewKey,
  lensKey,
  outputsKey,
  type SaliencyTarget,
  type SnapshotPanel,
  saliencyKey,
  snapshotKey,
  specificKey,
} from "../src/traits";
import { viewBlob } from "./helpers/encode";

interface Fixture {
  layer_view: { input_index: number; layer: string; key: string }[];
  saliency: {
    input_index: number;
    method: string;
    target: SaliencyTarget;
    layer: string;
    unit: number | null;
    position: number | null;
    key: string;
  }[];
  examples: { layer: string; unit: number; band: number; key: string }[];
  snapshot: { panel: string; key: string; full: string }[];
  panels: { panel: string; args: (number | string)[]; key: string }[];
  order: { values: (number | string)[]; descending: number[]; counts: number[]; by_count: number[] };
}

const fixture = JSON.parse(
  readFileSync(new URL("./fixtures/contract.json", import.meta.url), "utf8"),
) as Fixture;

const number = (v: number | string): number =>
  v === "nan"
    ? Number.NaN
    : v === "inf"
      ? Number.POSITIVE_INFINITY
      : v === "-inf"
        ? Number.NEGATIVE_INFINITY
        : Number(v);

describe("the contract with Python", () => {
  it("has cases for every key", () => {
    expect(fixture.layer_view.length).toBeGreaterThan(0);
    expect(fixture.saliency.map((c) => c.target.type).sort()).toEqual([
      "class",
      "token",
      "token",
      "top",
      "unit",
      "unit",
    ]);
    expect(fixture.panels.map((c) => c.panel).sort()).toEqual([
      "attention",
      "effects",
      "lens",
      "outputs",
      "specific",
    ]);
    expect(fixture.examples.length).toBeGreaterThan(0);
    expect(fixture.snapshot.length).toBeGreaterThan(0);
  });

  it("makes the layer-view keys Python makes", () => {
    for (const c of fixture.layer_view) expect(layerViewKey(c.input_index, c.layer)).toBe(c.key);
  });

  it("makes the saliency keys Python makes", () => {
    for (const c of fixture.saliency) {
      const target = saliencyTargetKey(c.target, c.layer, c.unit, c.position);
      expect(saliencyKey(c.input_index, c.method, target)).toBe(c.key);
    }
  });

  it("makes the examples and snapshot keys Python makes", () => {
    for (const c of fixture.examples) expect(examplesKey(c.layer, c.unit, c.band)).toBe(c.key);
    for (const c of fixture.snapshot) expect(snapshotKey(c.panel as SnapshotPanel, c.key)).toBe(c.full);
  });

  it("makes the keys of the prediction panels Python makes", () => {
    const keys: Record<string, (args: (number | string)[]) => string> = {
      outputs: ([i]) => outputsKey(Number(i)),
      attention: ([i, layer]) => attentionKey(Number(i), String(layer)),
      lens: ([i]) => lensKey(Number(i)),
      effects: ([layer, unit]) => effectsKey(String(layer), Number(unit)),
      specific: ([layer, ...group]) => specificKey(String(layer), groupText(group.map(Number))),
    };
    for (const c of fixture.panels) expect(keys[c.panel]?.(c.args)).toBe(c.key);
  });

  it("orders units as Python does: descending, NaN last, ties to the lower index", () => {
    const values = fixture.order.values.map(number);
    expect(values.some(Number.isNaN)).toBe(true);
    expect(Array.from(descending(values))).toEqual(fixture.order.descending);
    // the same rule sorts a layer's units by their max or mean
    const view = layerViewFromBlob(viewBlob("v", 0, "vector", [values.length], values));
    if (isFailure(view)) throw new Error("not data");
    const stats = {
      max: new Float32Array(values),
      mean: new Float32Array(values),
      argmax: new Int32Array(values.length),
      active: new Int32Array(fixture.order.counts),
    };
    view.stats = stats;
    expect(Array.from(unitOrder(view, "max"))).toEqual(fixture.order.descending);
    expect(Array.from(unitOrder(view, "mean"))).toEqual(fixture.order.descending);
    // by count: the most active first, equal counts by the same rule on the max
    expect(Array.from(unitOrder(view, "count"))).toEqual(fixture.order.by_count);
  });
});
