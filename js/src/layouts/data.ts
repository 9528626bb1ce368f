// A decoded layer-view blob (src/actscope/widget/panels/layer_view.py) and what the layouts
// derive from it: per-unit summaries and orders.
import type { LayerViewArray, LayerViewErrorMeta, LayerViewMeta, RankBy } from "../traits";
import { kindValues } from "../traits";
import { type Decoded, decode, WireError } from "../wire";

export type { LayerViewErrorMeta };

/** The top units of the layer by one statistic, as Python's `Ranking(units, max, mean, argmax, count)`. */
export interface Ranking {
  units: Int32Array;
  max: Float32Array;
  mean: Float32Array;
  argmax: Int32Array;
  /** At how many positions each unit is active (> 0). */
  count: Int32Array;
}

export interface LayerData {
  meta: LayerViewMeta;
  /** Activation values in the canonical layout (trimmed if the meta says so). */
  act: Float32Array;
  /** Shape of `act`. */
  shape: number[];
  ranking: Record<RankBy, Ranking>;
  image: { data: Uint8Array; h: number; w: number } | null;
  bytes: number;
  /** Per-unit summaries of `act`, computed on first use. */
  stats?: UnitStats;
  /** A windowed view (`meta.window`): the whole layer as `meta.overview` tiles. */
  overview?: Float32Array;
  /** A windowed view: unit `meta.window.unit`'s value at every position, exact. */
  column?: Float32Array;
}

/** A layer view that answers its key with an error instead of data. */
export interface LayerFailure {
  meta: LayerViewErrorMeta;
  bytes: number;
}

/** What the store holds for a key: data, or the error that answers it. */
export type LayerEntry = LayerData | LayerFailure;

export interface UnitStats {
  max: Float32Array;
  mean: Float32Array;
  argmax: Int32Array;
  /** Positions where the unit is active (> 0). */
  active: Int32Array;
}

export type SortMode = "index" | RankBy;

export function isFailure(entry: LayerEntry): entry is LayerFailure {
  return "error" in entry.meta;
}

function f32(d: Decoded<unknown>, name: LayerViewArray): Float32Array {
  const a = d.arrays.get(name);
  return a instanceof Float32Array ? a : new Float32Array(a ?? []);
}

function i32(d: Decoded<unknown>, name: LayerViewArray): Int32Array {
  const a = d.arrays.get(name);
  return a instanceof Int32Array ? a : new Int32Array(a ?? []);
}

function ranking(d: Decoded<unknown>, by: RankBy): Ranking {
  return {
    units: i32(d, `rank_${by}_units`),
    max: f32(d, `rank_${by}_max`),
    mean: f32(d, `rank_${by}_mean`),
    argmax: i32(d, `rank_${by}_argmax`),
    count: i32(d, `rank_${by}_count`),
  };
}

export function fromDecoded(d: Decoded<LayerViewMeta | LayerViewErrorMeta>): LayerEntry {
  const meta = d.meta;
  if (typeof meta.key !== "string") throw new WireError("a layer view without a key");
  if ("error" in meta) return { meta: { ...meta, error: String(meta.error) }, bytes: d.bytes };
  if (!kindValues.includes(meta.kind) || typeof meta.layer !== "string") {
    throw new WireError(`a layer view of kind ${JSON.stringify(meta.kind)}`);
  }
  const dense = sparseToDense(d, meta);
  if (!dense && !(d.arrays.get("act") instanceof Float32Array))
    throw new WireError("a layer view without values");
  const img = d.arrays.get("image");
  const imgShape = d.shapes.get("image");
  return {
    meta,
    act: dense ? dense.act : f32(d, "act"),
    shape: dense ? dense.shape : (d.shapes.get("act") ?? []),
    ranking: { max: ranking(d, "max"), mean: ranking(d, "mean"), count: ranking(d, "count") },
    image:
      img instanceof Uint8Array && imgShape
        ? { data: img, h: imgShape[0] as number, w: imgShape[1] as number }
        : null,
    bytes: d.bytes,
    ...(meta.window && meta.overview ? windowArrays(d, meta) : {}),
  };
}

/** A windowed view's overview tiles and selected unit's column, checked against its meta. */
function windowArrays(
  d: Decoded<unknown>,
  meta: LayerViewMeta,
): Pick<LayerData, "overview" | "column" | "stats"> {
  const o = meta.overview;
  const w = meta.window;
  // A spatial view is cut along channels: tiles of every channel's map, a channel's whole map.
  const spatial = meta.kind === "spatial";
  const [C, H, W] = [meta.shape[0] ?? 0, meta.shape[1] ?? 1, meta.shape[2] ?? 1];
  const overview = d.arrays.get("overview");
  const tiles = (o?.rows ?? 0) * (o?.cols ?? 0) * (spatial ? C : 1);
  if (!o || !w || !(overview instanceof Float32Array) || overview.length !== tiles) {
    throw new WireError("a windowed layer view without its overview");
  }
  const column = d.arrays.get("column");
  const along = spatial ? H * W : w.positions;
  if (column !== undefined && (!(column instanceof Float32Array) || column.length !== along)) {
    throw new WireError("a windowed layer view whose column is not one value a position (a pixel)");
  }
  const units = spatial ? C : (meta.shape[1] ?? 0);
  const [max, mean, argmax, active] = ["unit_max", "unit_mean", "unit_argmax", "unit_count"].map((n) =>
    d.arrays.get(n as LayerViewArray),
  );
  const whole =
    max instanceof Float32Array &&
    mean instanceof Float32Array &&
    argmax instanceof Int32Array &&
    active instanceof Int32Array &&
    [max, mean, argmax, active].every((a) => a.length === units)
      ? { stats: { max, mean, argmax, active } } // the whole layer's, not the window's
      : {};
  return column ? { overview, column, ...whole } : { overview, ...whole };
}

/**
 * A sparse view's (T, F) values, filled in (zeros elsewhere); null for a dense view. Each
 * position's active features: `sp_counts[t]` of them, their indices as gaps in `sp_gaps`
 * (LEB128, Python's `widget/sparse.py` `varint_gaps`), their values in `sp_vals`.
 */
export function sparseToDense(
  d: Decoded<unknown>,
  meta: LayerViewMeta,
): { act: Float32Array; shape: number[] } | null {
  const counts = d.arrays.get("sp_counts");
  const gaps = d.arrays.get("sp_gaps");
  const vals = d.arrays.get("sp_vals");
  if (!counts) return null;
  if (!(counts instanceof Uint16Array) || !(gaps instanceof Uint8Array) || !(vals instanceof Float32Array)) {
    throw new WireError("a sparse layer view with arrays of the wrong types");
  }
  const [T, F] = [counts.length, meta.shape[1] ?? 0];
  const act = new Float32Array(T * F);
  let [p, i] = [0, 0];
  for (let t = 0; t < T; t++) {
    let f = -1;
    for (let j = 0; j < (counts[t] as number); j++) {
      let byte = gaps[p++] ?? 0;
      let gap = byte & 0x7f;
      for (let shift = 7; byte & 0x80 && shift <= 14; shift += 7) {
        byte = gaps[p++] ?? 0;
        gap |= (byte & 0x7f) << shift;
      }
      f += gap + 1;
      if (f >= F || i >= vals.length) throw new WireError(`a sparse layer view with feature ${f} of ${F}`);
      act[t * F + f] = vals[i++] as number;
    }
  }
  if (p !== gaps.length || i !== vals.length) {
    throw new WireError("a sparse layer view whose counts do not match its entries");
  }
  return { act, shape: [T, F] };
}

/** Decode a layer-view blob (data or error). */
export function layerViewFromBlob(blob: DataView): LayerEntry {
  return fromDecoded(decode<LayerViewMeta | LayerViewErrorMeta>(blob));
}

/** Units and positions of the canonical layout: sequence (T, D) has units last. */
export function layout(data: LayerData): { units: number; positions: number; unitsLast: boolean } {
  const s = data.shape;
  if (data.meta.kind === "sequence") return { units: s[1] ?? 1, positions: s[0] ?? 1, unitsLast: true };
  if (s.length === 0) return { units: 1, positions: 1, unitsLast: false };
  const whole = data.meta.shape; // a windowed spatial view holds some channels, ranks all
  if (data.meta.window)
    return { units: whole[0] ?? 0, positions: (whole[1] ?? 1) * (whole[2] ?? 1), unitsLast: false };
  const units = s[0] as number;
  return { units, positions: units ? data.act.length / units : 0, unitsLast: false };
}

export function unitStats(data: LayerData): UnitStats {
  if (data.stats) return data.stats;
  const { units, positions, unitsLast } = layout(data);
  const max = new Float32Array(units).fill(Number.NEGATIVE_INFINITY);
  const sum = new Float64Array(units);
  const count = new Int32Array(units);
  const active = new Int32Array(units);
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
      if (v > 0) active[u] = (active[u] as number) + 1;
    }
  }
  const mean = new Float32Array(units);
  for (let u = 0; u < units; u++) mean[u] = count[u] ? (sum[u] as number) / (count[u] as number) : Number.NaN;
  data.stats = { max, mean, argmax, active };
  return data.stats;
}

/**
 * Indices of `values` from the largest down: NaN last (after -Inf), ties to the lower index.
 * The one ordering of units in actscope (Python's `engine/ranking.py` `descending`).
 */
export function descending(values: ArrayLike<number>): Int32Array {
  const n = values.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort((a, b) => {
    const [va, vb] = [values[a] as number, values[b] as number];
    const [nanA, nanB] = [Number.isNaN(va), Number.isNaN(vb)];
    if (nanA || nanB) return nanA === nanB ? a - b : nanA ? 1 : -1;
    return va === vb ? a - b : vb > va ? 1 : -1;
  });
}

/**
 * Units from the most active positions down; equal counts: the larger max first, then the
 * lower index (Python's `engine/ranking.py` `by_count`).
 */
export function byCount(count: ArrayLike<number>, max: ArrayLike<number>): Int32Array {
  const order = descending(max);
  const rank = new Int32Array(order.length);
  for (let i = 0; i < order.length; i++) rank[order[i] as number] = i;
  return order.sort(
    (a, b) => (count[b] as number) - (count[a] as number) || (rank[a] as number) - (rank[b] as number),
  );
}

/** Unit indices in display order: by index, by max/mean activation (descending), or by count. */
export function unitOrder(data: LayerData, mode: SortMode): Int32Array {
  const n = layout(data).units;
  if (mode === "index") {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    return order;
  }
  const stats = unitStats(data);
  if (mode === "count") return byCount(stats.active, stats.max);
  return descending(mode === "max" ? stats.max : stats.mean);
}
