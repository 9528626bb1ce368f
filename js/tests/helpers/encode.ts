// A test-only encoder for wire blobs (float32 and int32 arrays), mirroring wire.py's layout.
export function encodeBlob(
  meta: Record<string, unknown>,
  arrays: Record<string, { data: number[]; shape: number[]; dtype?: "f32" | "i32" | "u8raw" }>,
): DataView {
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

/** A view blob as payloads.layer_view makes it. */
export function viewBlob(
  layer: string,
  input: number,
  kind: string,
  shape: number[],
  values: number[],
  extra: Record<string, unknown> = {},
): DataView {
  const finite = values.filter((v) => Number.isFinite(v));
  return encodeBlob(
    {
      layer,
      input,
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
      top_max_units: { data: [0], shape: [1], dtype: "i32" },
      top_max_values: { data: [values[0] ?? 0], shape: [1] },
      top_max_pos: { data: [0], shape: [1], dtype: "i32" },
      top_max_means: { data: [0], shape: [1] },
      top_mean_units: { data: [0], shape: [1], dtype: "i32" },
      top_mean_values: { data: [0], shape: [1] },
      top_mean_max: { data: [0], shape: [1] },
      top_mean_pos: { data: [0], shape: [1], dtype: "i32" },
    },
  );
}
