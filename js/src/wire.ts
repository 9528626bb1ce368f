// Decoder for the wire blobs made by src/actscope/wire.py (the one encoder).
//
//   "ACT1" | u32 LE header length | header JSON | pad to 8 | arrays (each 8-aligned)
// Array offsets count from the start of the data section (after the padding).
//
// A value decodes as stored * scale + zero. u8 codes 253/254/255 are -Inf/+Inf/NaN.
// "ACZ1" + deflate data is a compressed blob (undone with DecompressionStream).

export type WireDType = "f16" | "u8" | "u8raw" | "u16" | "i32" | "f32";

/** A decoded array: floats for f16/f32/u8-scaled data, integers as sent. */
export type WireArray = Float32Array | Uint8Array | Uint16Array | Int32Array;

export interface ArraySpec {
  dtype: WireDType;
  shape: number[];
  offset: number;
  nbytes: number;
  scale: number;
  zero: number;
}

export interface Decoded<M = Record<string, unknown>> {
  meta: M;
  arrays: Map<string, WireArray>;
  shapes: Map<string, number[]>;
  /** Size of the blob in bytes (for cache budgets). */
  bytes: number;
}

const MAGIC = 0x31544341; // "ACT1" little-endian
const MAGIC_COMPRESSED = 0x315a4341; // "ACZ1"
const U8_NEG_INF = 253;
const U8_POS_INF = 254;
const U8_NAN = 255;

let f16Table: Float32Array | null = null;

/** float16 bit patterns → float32, built once (256 KB). */
export function float16Table(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * 2 ** -14 * (frac / 1024);
    else if (exp === 31) table[h] = frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else table[h] = sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  f16Table = table;
  return table;
}

function product(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** True when the blob is deflate-compressed and needs `decodeAsync`. */
export function isCompressed(view: DataView): boolean {
  return view.byteLength >= 4 && view.getUint32(0, true) === MAGIC_COMPRESSED;
}

/** A blob that cannot be read: truncated, corrupted, or not an actscope blob. */
export class WireError extends Error {
  override name = "WireError";
}

/** The most values one array may declare: far beyond any view, short of a bad allocation. */
export const MAX_VALUES = 2 ** 28;

const WIDTH: Record<WireDType, number> = { f16: 2, u8: 1, u8raw: 1, u16: 2, i32: 4, f32: 4 };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Check one array's header entry against the blob; returns its value count. */
function checkSpec(name: string, spec: unknown, dataBytes: number): number {
  if (!isObject(spec)) throw new WireError(`array ${name}: its description is not an object`);
  const { dtype, shape, offset, scale, zero } = spec;
  if (typeof dtype !== "string" || !(dtype in WIDTH)) {
    throw new WireError(`array ${name}: unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new WireError(`array ${name}: shape ${JSON.stringify(shape)} is not a list of sizes`);
  }
  let n = 1;
  for (const d of shape as number[]) n *= d;
  if (n > MAX_VALUES) throw new WireError(`array ${name}: ${n} values is too many`);
  if (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0) {
    throw new WireError(`array ${name}: bad offset ${JSON.stringify(offset)}`);
  }
  if (typeof scale !== "number" || typeof zero !== "number") {
    throw new WireError(`array ${name}: scale and zero must be numbers`);
  }
  const end = offset + n * (WIDTH[dtype as WireDType] as number);
  if (end > dataBytes) {
    throw new WireError(`array ${name}: needs bytes up to ${end} but the blob holds ${dataBytes}`);
  }
  return n;
}

/**
 * Decode an uncompressed blob. Arrays of floats come out as Float32Array. A blob that is
 * not well formed raises a {@link WireError} that says what is wrong; nothing else throws.
 */
export function decode<M = Record<string, unknown>>(view: DataView): Decoded<M> {
  if (view.byteLength < 8 || view.getUint32(0, true) !== MAGIC) {
    throw new WireError("not an actscope blob (bad magic)");
  }
  const headerLength = view.getUint32(4, true);
  if (8 + headerLength > view.byteLength) {
    throw new WireError(`truncated blob: a ${headerLength}-byte header in ${view.byteLength} bytes`);
  }
  const headerBytes = new Uint8Array(view.buffer, view.byteOffset + 8, headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(headerBytes));
  } catch (err) {
    throw new WireError(`corrupted header: ${String(err)}`);
  }
  if (!isObject(header) || !isObject(header.meta) || !isObject(header.arrays)) {
    throw new WireError("corrupted header: it needs a meta object and an arrays object");
  }
  const dataStart = Math.ceil((8 + headerLength) / 8) * 8;
  const dataBytes = Math.max(0, view.byteLength - dataStart);
  const arrays = new Map<string, WireArray>();
  const shapes = new Map<string, number[]>();
  for (const [name, spec] of Object.entries(header.arrays)) {
    checkSpec(name, spec, dataBytes);
    const checked = spec as unknown as ArraySpec;
    arrays.set(name, decodeArray(view, checked, dataStart));
    shapes.set(name, checked.shape);
  }
  return { meta: header.meta as M, arrays, shapes, bytes: view.byteLength };
}

function decodeArray(view: DataView, spec: ArraySpec, dataStart: number): WireArray {
  const n = product(spec.shape);
  const start = view.byteOffset + dataStart + spec.offset;
  // Copy into an aligned buffer when the DataView's own offset breaks alignment.
  const aligned = (width: number): ArrayBufferLike =>
    start % width === 0 ? view.buffer : view.buffer.slice(start, start + n * width);
  const at = (width: number): number => (start % width === 0 ? start : 0);
  switch (spec.dtype) {
    case "f16": {
      const raw = new Uint16Array(aligned(2), at(2), n);
      const table = float16Table();
      const out = new Float32Array(n);
      const scale = spec.scale;
      if (scale === 1) for (let i = 0; i < n; i++) out[i] = table[raw[i] as number] as number;
      else for (let i = 0; i < n; i++) out[i] = (table[raw[i] as number] as number) * scale;
      return out;
    }
    case "u8": {
      const raw = new Uint8Array(view.buffer, start, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const c = raw[i] as number;
        out[i] =
          c === U8_NAN
            ? Number.NaN
            : c === U8_POS_INF
              ? Number.POSITIVE_INFINITY
              : c === U8_NEG_INF
                ? Number.NEGATIVE_INFINITY
                : c * spec.scale + spec.zero;
      }
      return out;
    }
    case "u8raw":
      return new Uint8Array(view.buffer, start, n);
    case "u16":
      return new Uint16Array(aligned(2), at(2), n).slice();
    case "i32":
      return new Int32Array(aligned(4), at(4), n).slice();
    case "f32":
      return new Float32Array(aligned(4), at(4), n).slice();
    default:
      throw new Error(`unknown wire dtype ${String((spec as ArraySpec).dtype)}`);
  }
}

/** Decode a blob that may be compressed (browsers inflate natively). */
export async function decodeAsync<M = Record<string, unknown>>(view: DataView): Promise<Decoded<M>> {
  if (!isCompressed(view)) return decode<M>(view);
  const body = new Uint8Array(view.buffer, view.byteOffset + 4, view.byteLength - 4);
  let inflated: ArrayBuffer;
  try {
    const stream = new Blob([body.slice()]).stream().pipeThrough(new DecompressionStream("deflate"));
    inflated = await new Response(stream).arrayBuffer();
  } catch (err) {
    throw new WireError(`corrupted compressed blob: ${String(err)}`);
  }
  return decode<M>(new DataView(inflated));
}

/**
 * `read()`, or `failed(reason)` when the blob it reads is not well formed (or its meta is
 * not what the panel expects): a bad blob becomes an error shown in place, never a throw.
 */
export function readOr<T>(read: () => T, failed: (reason: string) => T): T {
  try {
    return read();
  } catch (err) {
    return failed(err instanceof Error ? err.message : String(err));
  }
}

/** A DataView from what a Bytes trait holds (DataView, ArrayBuffer, typed array or null). */
export function asDataView(value: unknown): DataView | null {
  if (value == null) return null;
  if (value instanceof DataView) return value.byteLength ? value : null;
  if (value instanceof ArrayBuffer) return value.byteLength ? new DataView(value) : null;
  if (ArrayBuffer.isView(value)) {
    return value.byteLength ? new DataView(value.buffer, value.byteOffset, value.byteLength) : null;
  }
  return null;
}
