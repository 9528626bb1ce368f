// A test-only encoder for wire blobs (float32 and int32 arrays), mirroring wire.py's layout,
// and blobs shaped as the Python panels make them.
import { deflateSync } from "node:zlib";
import type { Kind, LayerViewArray, SaliencyOver } from "../../src/traits";
import { layerViewKey } from "../../src/traits";

export interface TestArray {
  data: number[];
  shape: number[];
  dtype?: "f32" | "i32" | "u8raw" | "u16";
}

export function encodeBlob(meta: Record<string, unknown>, arrays: Record<string, TestArray>): DataView {
  const specs: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, a] of Object.entries(arrays)) {
    const dtype = a.dtype ?? "f32";
    const bytes =
      dtype === "f32"
        ? new Uint8Array(new Float32Array(a.data).buffer)
        : dtype === "i32"
          ? new Uint8Array(new Int32Array(a.data).buffer)
          : dtype === "u16"
            ? new Uint8Array(new Uint16Array(a.data).buffer)
            : new Uint8Array(a.data);
    specs[name] = { dtype, shape: a.shape, offset, nbytes: bytes.length, scale: 1, zero: 0 };
    chunks.push(bytes);
    offset = Math.ceil((offset + bytes.length) / 8) * 8;
  }
  const header = new TextEncoder().encode(JSON.stringify({ meta, arrays: specs }));
  const start = Math.ceil((8 + header.length) / 8) * 8;
  const out = new Uint8Array(start + offset);
  const view = new DataView(out.buffer);
  out.set([0x41, 0x43, 0x54, 0x31]);
  view.setUint32(4, header.length, true);
  out.set(header, 8);
  let at = start;
  for (const c of chunks) {
    out.set(c, at);
    at = Math.ceil((at + c.length) / 8) * 8;
  }
  return view;
}

/** "ACZ1" + deflate: a compressed blob, as wire.py writes snapshots. */
export function compress(blob: DataView): DataView {
  const body = deflateSync(new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength));
  const out = new Uint8Array(4 + body.length);
  out.set([0x41, 0x43, 0x5a, 0x31]);
  out.set(body, 4);
  return new DataView(out.buffer);
}

/** A layer-view blob as panels/layer_view.py makes it (rankings by index unless given). */
export function viewBlob(
  layer: string,
  input_index: number,
  kind: Kind,
  shape: number[],
  values: number[],
  extra: Record<string, unknown> = {},
  arrays: Partial<Record<LayerViewArray, TestArray>> = {},
): DataView {
  const finite = values.filter((v) => Number.isFinite(v));
  return encodeBlob(
    {
      key: layerViewKey(input_index, layer),
      layer,
      input_index,
      kind,
      shape,
      layer_shape: shape,
      unit_axis: kind === "sequence" ? 1 : 0,
      n_units: kind === "sequence" ? shape[1] : shape[0],
      nan: 0,
      posinf: 0,
      neginf: 0,
      min: Math.min(...finite),
      max: Math.max(...finite),
      trimmed: null,
      ...extra,
    },
    {
      act: { data: values, shape },
      rank_max_units: { data: [0], shape: [1], dtype: "i32" },
      rank_max_max: { data: [values[0] ?? 0], shape: [1] },
      rank_max_mean: { data: [0], shape: [1] },
      rank_max_argmax: { data: [0], shape: [1], dtype: "i32" },
      rank_mean_units: { data: [0], shape: [1], dtype: "i32" },
      rank_mean_max: { data: [0], shape: [1] },
      rank_mean_mean: { data: [0], shape: [1] },
      rank_mean_argmax: { data: [0], shape: [1], dtype: "i32" },
      ...arrays,
    },
  );
}

/** An error blob answering `key` (any panel; a layer view's also names layer and input). */
export function errorBlob(key: string, error: string, extra: Record<string, unknown> = {}): DataView {
  return encodeBlob({ key, error, ...extra }, {});
}

/** A saliency blob as panels/saliency.py makes it. */
export function saliencyBlob(
  key: string,
  over: SaliencyOver,
  map: number[],
  shape: number[],
  extra: Record<string, unknown> = {},
): DataView {
  const [input_index, method, target] = key.split("|");
  return encodeBlob(
    {
      key,
      input_index: Number(input_index),
      method,
      target,
      over,
      delta: null,
      nan: 0,
      posinf: 0,
      neginf: 0,
      min: Math.min(...map),
      max: Math.max(...map),
      ...extra,
    },
    { map: { data: map, shape } },
  );
}

/** A snapshot container: entry `e<n>` is `blobs[n][1]`, filed under `blobs[n][0]`. */
export function snapshotBlob(blobs: [string, DataView][]): DataView {
  const arrays: Record<string, TestArray> = {};
  blobs.forEach(([, blob], n) => {
    arrays[`e${n}`] = {
      data: Array.from(new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength)),
      shape: [blob.byteLength],
      dtype: "u8raw",
    };
  });
  return compress(encodeBlob({ keys: blobs.map(([k]) => k) }, arrays));
}

/** An examples blob as panels/examples.py makes it: a summary, `bands` bands, top rows. */
export function examplesBlob(
  layer: string,
  unit: number,
  band: number,
  fields: Record<string, unknown> = {},
  arrays: Record<string, TestArray> = {},
): DataView {
  const bands = Array.from({ length: 10 }, (_, i) => ({
    lower_q: i / 10,
    upper_q: (i + 1) / 10,
    lower: i,
    upper: i + 1,
    sampled: 5,
  }));
  return encodeBlob(
    {
      key: `${layer}|${unit}|${band}`,
      layer,
      unit,
      band,
      summary: {
        max: 9,
        median: 4,
        lowest: 0,
        active_fraction: 0.5,
        active_example_fraction: 0.25,
        n_examples: 300,
        positions: 1,
        nan_examples: 0,
      },
      bands,
      top: [
        { id: 11, value: 9, position: 0 },
        { id: 12, value: 8, position: 0 },
      ],
      has_context: false,
      ...fields,
    },
    {
      hist_edges: { data: [0, 3, 6, 9], shape: [4] },
      hist_counts: { data: [5, 10, 2], shape: [3] },
      ...arrays,
    },
  );
}
