// @vitest-environment happy-dom
// Property-based fuzzing of the boundary with Python: random and damaged wire blobs never
// crash the decoder or the explorer (a clear error in the view instead), and never hang it.
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { ExplorerView } from "../src/explorer";
import { StaticModel } from "../src/standalone";
import { decode, MAX_VALUES, WireError } from "../src/wire";
import { encodeBlob, examplesBlob, saliencyBlob, viewBlob } from "./helpers/encode";
import { traits } from "./helpers/model";

afterEach(() => document.body.replaceChildren());

const good = (): DataView =>
  viewBlob(
    "a",
    0,
    "sequence",
    [4, 3],
    Array.from({ length: 12 }, (_, i) => i),
  );

function bytesOf(view: DataView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
}

/** A valid blob, then damaged: cut short, bytes overwritten, or both. */
const damaged = fc
  .record({
    cut: fc.option(fc.nat(), { nil: undefined }),
    writes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
  })
  .map(({ cut, writes }) => {
    let bytes = bytesOf(good());
    for (const [at, value] of writes) bytes[at % bytes.length] = value;
    if (cut !== undefined) bytes = bytes.slice(0, cut % (bytes.length + 1));
    return new DataView(bytes.buffer);
  });

/** A blob whose header is well formed JSON with random array descriptions. */
const lying = fc
  .record({
    dtype: fc.oneof(fc.constantFrom("f16", "u8", "u8raw", "i32", "f32"), fc.string()),
    shape: fc.oneof(
      fc.array(fc.integer({ min: -2, max: 2 ** 31 }), { maxLength: 4 }),
      fc.constant([2 ** 20, 2 ** 20]),
      fc.anything(),
    ),
    offset: fc.oneof(fc.nat(), fc.integer(), fc.anything()),
  })
  .map(({ dtype, shape, offset }) => {
    const header = new TextEncoder().encode(
      JSON.stringify({
        meta: { key: "0|a" },
        arrays: { act: { dtype, shape, offset, nbytes: 8, scale: 1, zero: 0 } },
      }),
    );
    const start = Math.ceil((8 + header.length) / 8) * 8;
    const out = new Uint8Array(start + 16);
    const view = new DataView(out.buffer);
    out.set([0x41, 0x43, 0x54, 0x31]);
    view.setUint32(4, header.length, true);
    out.set(header, 8);
    return view;
  });

const anyBlob = fc.oneof(
  damaged,
  lying,
  fc.uint8Array({ maxLength: 256 }).map((b) => new DataView(b.buffer)),
);

describe("fuzzing the decoder", () => {
  it("reads a blob or raises a WireError, nothing else", () => {
    fc.assert(
      fc.property(anyBlob, (blob) => {
        try {
          decode(blob);
        } catch (err) {
          expect(err).toBeInstanceOf(WireError);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("refuses huge shapes without allocating them", () => {
    const header = {
      meta: {},
      arrays: { act: { dtype: "f32", shape: [2 ** 16, 2 ** 16], offset: 0, scale: 1, zero: 0 } },
    };
    const bytes = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(16 + bytes.length);
    out.set([0x41, 0x43, 0x54, 0x31]);
    new DataView(out.buffer).setUint32(4, bytes.length, true);
    out.set(bytes, 8);
    expect(2 ** 32).toBeGreaterThan(MAX_VALUES);
    expect(() => decode(new DataView(out.buffer))).toThrow(/too many/);
  });
});

const BLOB_TRAITS = [
  "layer_view",
  "saliency_view",
  "examples_view",
  "outputs_view",
  "attention_view",
  "lens_view",
  "effects_view",
] as const;

describe("fuzzing the explorer", () => {
  it("shows an error in place of any blob it cannot read, and keeps working", () => {
    fc.assert(
      fc.property(anyBlob, fc.constantFrom(...BLOB_TRAITS), (blob, trait) => {
        const model = new StaticModel(traits({ saliency_method: "gradient", unit: 1 }));
        const el = document.createElement("div");
        document.body.append(el);
        const view = new ExplorerView(model, el);
        model.set(trait as "layer_view", blob); // must not throw
        const root = el.querySelector<HTMLElement>(".acts-root") as HTMLElement;
        if (trait === "layer_view") {
          // Drawn (the damage missed what matters), or a note in its place: the blob could
          // not be read, or it answers another selection (so this one was not saved).
          const drawn = root.dataset.drawn === "0|a";
          const note = el.querySelector(".acts-missing")?.textContent ?? "";
          expect(drawn || /could not be read|not saved with the page/.test(note)).toBe(true);
        }
        // A good blob afterwards is drawn: the explorer was left in a working state.
        model.set("layer_view", good());
        expect(root.dataset.drawn).toBe("0|a");
        view.dispose();
        el.remove();
      }),
      { numRuns: 150 },
    );
  }, 60_000); // 150 explorers: slow on a loaded 2-core machine

  it("says what is wrong with an unreadable view", () => {
    const model = new StaticModel(traits());
    const el = document.createElement("div");
    document.body.append(el);
    new ExplorerView(model, el);
    const cut = new DataView(bytesOf(good()).slice(0, 20).buffer);
    model.set("layer_view", cut);
    const note = el.querySelector(".acts-missing.acts-view-error");
    expect(note?.textContent).toMatch(/The view sent by Python could not be read: truncated blob/);
    expect(note?.getAttribute("data-key")).toBe("0|a");
  });

  it("reads well-formed blobs of every panel", () => {
    expect(() => decode(saliencyBlob("0|gradient|top", "values", [1, 2, 3], [3]))).not.toThrow();
    expect(() => decode(examplesBlob("a", 1, -1))).not.toThrow();
    expect(() => decode(encodeBlob({ key: "k" }, {}))).not.toThrow();
  });
});
