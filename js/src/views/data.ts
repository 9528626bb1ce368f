// A decoded view blob (see src/actscope/payloads.py `layer_view`) and what views derive
// from it: per-unit summaries and orders.
import type { Decoded } from "../wire";

export type Kind = "spatial" | "sequence" | "vector" | "other" | "none";

export interface ViewMeta {
  layer: string;
  input: number;
  kind: Kind;
  shape: number[];
  layer_shape: number[];
  unit_axis: number | null;
  n_units: number;
  nan: number;
  posinf: number;
  neginf: number;
  min: number;
  max: number;
  trimmed: { shown: number[]; note: string } | null;
  tokens?: string[];
  error?: string;
}

export interface Top {
  units: Int32Array;
  values: Float32Array;
  other: Float32Array;
  pos: Int32Array;
}

export interface LayerData {
  meta: ViewMeta;
  /** Activation values in the canonical layout (trimmed if the meta says so). */
  act: Float32Array;
  /** Shape of `act`. */
  shape: number[];
  top: { max: Top; mean: Top };
  image: { data: Uint8Array; h: number; w: number } | null;
  bytes: number;
  /** Per-unit summaries of `act`, computed on first use. */
  stats?: UnitStats;
}

export interface UnitStats {
  max: Float32Array;
  mean: Float32Array;
  argmax: Int32Array;
}

export type SortMode = "index" | "max" | "mean";

export function key(input: number, layer: string): string {
  return `${input}\u0000${layer}`;
}

function f32(d: Decoded<ViewMeta>, name: string): Float32Array {
  const a = d.arrays.get(name);
  return a instanceof Float32Array ? a : new Float32Array(a ?? []);
}

function i32(d: Decoded<ViewMeta>, name: string): Int32Array {
  const a = d.arrays.get(name);
  return a instanceof Int32Array ? a : new Int32Array(a ?? []);
}

export function fromDecoded(d: Decoded<ViewMeta>): LayerData {
  const img = d.arrays.get("image");
  const imgShape = d.shapes.get("image");
  return {
    meta: d.meta,
    act: f32(d, "act"),
    shape: d.shapes.get("act") ?? [],
    top: {
      max: {
        units: i32(d, "top_max_units"),
        values: f32(d, "top_max_values"),
        other: f32(d, "top_max_means"),
        pos: i32(d, "top_max_pos"),
      },
      mean: {
        units: i32(d, "top_mean_units"),
        values: f32(d, "top_mean_values"),
        other: f32(d, "top_mean_max"),
        pos: i32(d, "top_mean_pos"),
      },
    },
    image:
      img instanceof Uint8Array && imgShape
        ? { data: img, h: imgShape[0] as number, w: imgShape[1] as number }
        : null,
    bytes: d.bytes,
  };
}

/** Units and positions of the canonical layout: sequence (T, D) has units last. */
export function layout(data: LayerData): { units: number; positions: number; unitsLast: boolean } {
  const s = data.shape;
  if (data.meta.kind === "sequence") return { units: s[1] ?? 1, positions: s[0] ?? 1, unitsLast: true };
  if (s.length === 0) return { units: 1, positions: 1, unitsLast: false };
  const units = s[0] as number;
  return { units, positions: units ? data.act.length / units : 0, unitsLast: false };
}

export function unitStats(data: LayerData): UnitStats {
  if (data.stats) return data.stats;
  const { units, positions, unitsLast } = layout(data);
  const max = new Float32Array(units).fill(Number.NEGATIVE_INFINITY);
  const sum = new Float64Array(units);
  const count = new Int32Array(units);
  const argmax = new Int32Array(units);
  const a = data.act;
  for (let p = 0; p < positions; p++) {
    for (let u = 0; u < units; u++) {
      const v = a[unitsLast ? p * units + u : u * positions + p] as number;
      if (v > (max[u] as number)) {
        max[u] = v;
        argmax[u] = p;
      }
      if (v - v === 0) {
        sum[u] = (sum[u] as number) + v;
        count[u] = (count[u] as number) + 1;
      }
    }
  }
  const mean = new Float32Array(units);
  for (let u = 0; u < units; u++) mean[u] = count[u] ? (sum[u] as number) / (count[u] as number) : Number.NaN;
  data.stats = { max, mean, argmax };
  return data.stats;
}

/** Unit indices in display order: by index, or by max/mean activation (descending). */
export function unitOrder(data: LayerData, mode: SortMode): Int32Array {
  const n = layout(data).units;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (mode === "index") return order;
  const stats = unitStats(data);
  const k = mode === "max" ? stats.max : stats.mean;
  const val = (i: number): number => {
    const v = k[i] as number;
    return Number.isNaN(v) ? Number.NEGATIVE_INFINITY : v;
  };
  return order.sort((a, b) => val(b) - val(a) || a - b);
}
