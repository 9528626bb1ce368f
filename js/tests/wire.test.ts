// The decoder against blobs made by the Python encoder (tests/test_wire_contract.py keeps
// these fixtures in step with src/actscope/wire.py).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { asDataView, decode, decodeAsync, float16Table, isCompressed } from "../src/wire";

const dir = new URL("./fixtures/", import.meta.url);
const load = (name: string): DataView => {
  const bytes = readFileSync(new URL(name, dir));
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
};
const expected = JSON.parse(readFileSync(new URL("expected.json", dir), "utf8")) as Record<
  string,
  (number | string)[]
>;
const asNumbers = (xs: (number | string)[]): number[] =>
  xs.map((x) => (typeof x === "string" ? Number(x) : x));

describe("wire decode", () => {
  it("decodes float16, int32 and raw uint8 arrays and the meta", () => {
    const d = decode<{ layer: string; input: number; note: string }>(load("f16.bin"));
    expect(d.meta).toEqual({ layer: "encoder.layer.0", input: 2, note: "héllo </script>" });
    expect(Array.from(d.arrays.get("act") ?? [])).toEqual(asNumbers(expected.act ?? []));
    expect(d.shapes.get("act")).toEqual([2, 3]);
    expect(Array.from(d.arrays.get("big") ?? [])).toEqual(expected.big);
    expect(Array.from(d.arrays.get("ids") ?? [])).toEqual(expected.ids);
    const rgb = d.arrays.get("rgb");
    expect(rgb).toBeInstanceOf(Uint8Array);
    expect(Array.from(rgb ?? [])).toEqual(expected.rgb);
  });

  it("decodes uint8 with scale and offset, keeping NaN and ±Inf", () => {
    const act = Array.from(decode(load("u8.bin")).arrays.get("act") ?? []);
    const want = asNumbers(expected.act ?? []);
    for (let i = 0; i < 3; i++) expect(act[i]).toBeCloseTo(want[i] as number, 1);
    expect(Number.isNaN(act[3])).toBe(true);
    expect(act[4]).toBe(Number.POSITIVE_INFINITY);
    expect(act[5]).toBe(Number.NEGATIVE_INFINITY);
  });

  it("inflates compressed blobs natively", async () => {
    const view = load("compressed.bin");
    expect(isCompressed(view)).toBe(true);
    expect(() => decode(view)).toThrow(/bad magic/);
    const d = await decodeAsync<{ z: boolean }>(view);
    expect(d.meta.z).toBe(true);
    const zeros = d.arrays.get("zeros") ?? [];
    expect(zeros.length).toBe(4096);
    expect(Array.from(zeros).every((v) => v === 0)).toBe(true);
  });

  it("works on a view into a larger, unaligned buffer", () => {
    const src = new Uint8Array(readFileSync(new URL("f16.bin", dir)));
    const padded = new Uint8Array(src.length + 3);
    padded.set(src, 3);
    const d = decode(new DataView(padded.buffer, 3, src.length));
    expect(Array.from(d.arrays.get("big") ?? [])).toEqual(expected.big);
  });

  it("has a correct float16 table", () => {
    const t = float16Table();
    expect(t[0x3c00]).toBe(1);
    expect(t[0xc000]).toBe(-2);
    expect(t[0x7bff]).toBe(65504);
    expect(t[0x0001]).toBeCloseTo(5.96e-8, 10);
    expect(Number.isNaN(t[0x7e00])).toBe(true);
    expect(t[0xfc00]).toBe(Number.NEGATIVE_INFINITY);
  });

  it("treats empty bytes traits as missing", () => {
    expect(asDataView(null)).toBeNull();
    expect(asDataView(new DataView(new ArrayBuffer(0)))).toBeNull();
    expect(asDataView(new Uint8Array([1, 2]))?.byteLength).toBe(2);
  });
});
