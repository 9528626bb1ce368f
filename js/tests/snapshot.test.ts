import { describe, expect, it } from "vitest";
import {
  decodeSnapshot,
  emptySnapshot,
  PanelBlobs,
  SNAPSHOT_PANELS,
  splitSnapshotKey,
  stateOf,
} from "../src/snapshot";
import { snapshotKey, snapshotPanelValues } from "../src/traits";
import { decode } from "../src/wire";
import { encodeBlob, snapshotBlob, viewBlob } from "./helpers/encode";

describe("snapshot keys", () => {
  it("split into the panel and the panel's own key", () => {
    expect(splitSnapshotKey("layer_view|0|features.conv1")).toEqual(["layer_view", "0|features.conv1"]);
    expect(splitSnapshotKey("saliency|2|gradient|unit:a|b:3")).toEqual(["saliency", "2|gradient|unit:a|b:3"]);
    expect(splitSnapshotKey("examples|enc.3|5|-1")).toEqual(["examples", "enc.3|5|-1"]);
    expect(splitSnapshotKey("attention|3|h.1.attn")).toEqual(["attention", "3|h.1.attn"]);
    expect(splitSnapshotKey("effects|h.1.mlp|17")).toEqual(["effects", "h.1.mlp|17"]);
    expect(splitSnapshotKey("view|0|a")).toBeNull(); // the old name of the layer view
    for (const panel of SNAPSHOT_PANELS)
      expect(splitSnapshotKey(snapshotKey(panel, "k"))).toEqual([panel, "k"]);
  });
});

describe("emptySnapshot", () => {
  it("has a map for every panel of the contract", () => {
    const empty = emptySnapshot();
    expect(Object.keys(empty).sort()).toEqual([...snapshotPanelValues].sort());
    for (const panel of snapshotPanelValues) expect(empty[panel].size).toBe(0);
  });
});

describe("decodeSnapshot", () => {
  it("files each entry of a compressed snapshot under its panel", async () => {
    const view = viewBlob("a", 0, "vector", [3], [1, 2, 3]);
    const saliency = encodeBlob({ key: "0|gradient|top" }, {});
    const examples = encodeBlob({ key: "a|1|-1" }, {});
    const snap = await decodeSnapshot(
      snapshotBlob([
        ["layer_view|0|a", view],
        ["saliency|0|gradient|top", saliency],
        ["examples|a|1|-1", examples],
        ["outputs|0", saliency],
        ["lens|0", saliency],
        ["attention|0|h.0.attn", saliency],
        ["effects|a|1", examples],
        ["figures|x", examples], // a panel this front end does not know
      ]),
    );
    expect([...snap.layer_view.keys()]).toEqual(["0|a"]);
    expect([...snap.saliency.keys()]).toEqual(["0|gradient|top"]);
    expect([...snap.examples.keys()]).toEqual(["a|1|-1"]);
    expect([...snap.outputs.keys()]).toEqual(["0"]);
    expect([...snap.lens.keys()]).toEqual(["0"]);
    expect([...snap.attention.keys()]).toEqual(["0|h.0.attn"]);
    expect([...snap.effects.keys()]).toEqual(["a|1"]);
    const decoded = decode<{ key: string }>(snap.layer_view.get("0|a") as DataView);
    expect(decoded.meta.key).toBe("0|a");
    expect(Array.from(decoded.arrays.get("act") ?? [])).toEqual([1, 2, 3]);
  });

  it("skips entries that are not bytes", async () => {
    const container = encodeBlob({ keys: ["layer_view|0|a"] }, { e0: { data: [1, 2], shape: [2] } });
    expect(await decodeSnapshot(container)).toEqual(emptySnapshot());
  });

  it("rejects a blob that is not a snapshot", async () => {
    await expect(decodeSnapshot(new DataView(new ArrayBuffer(16)))).rejects.toThrow(/bad magic/);
  });
});

describe("PanelBlobs", () => {
  const blob = (key: string, extra: Record<string, unknown> = {}) => encodeBlob({ key, ...extra }, {});

  it("answers only the key asked for, from the trait first, then the snapshot", () => {
    const blobs = new PanelBlobs<{ key: string; n?: number }>("things");
    blobs.setLive(blob("1", { n: 1 }), "1");
    expect(blobs.answer("1")?.meta).toEqual({ key: "1", n: 1 });
    expect(blobs.answer("2")).toBeNull();
    blobs.loadSnapshot(
      new Map([
        ["2", blob("2", { n: 2 })],
        ["1", blob("1", { n: 9 })],
      ]),
    );
    expect(blobs.answer("2")?.meta).toEqual({ key: "2", n: 2 });
    expect(blobs.answer("1")?.meta).toEqual({ key: "1", n: 1 });
    expect(blobs.saved("2")).toBe(true);
    blobs.setLive(null, "1");
    expect(blobs.answer("1")?.meta).toEqual({ key: "1", n: 9 });
  });

  it("turns a blob it cannot read into an error answering the key of the moment", () => {
    const blobs = new PanelBlobs<{ key: string }>("things");
    blobs.setLive(new DataView(new ArrayBuffer(4)), "3");
    const data = blobs.answer("3");
    expect(data?.meta).toMatchObject({ key: "3" });
    expect((data?.meta as { error?: string } | undefined)?.error).toMatch(
      /^The things sent by Python could not be read/,
    );
    expect(stateOf(data, false)).toBe("error");
    blobs.loadSnapshot(new Map([["4", new DataView(new ArrayBuffer(4))]]));
    expect((blobs.answer("4")?.meta as { error?: string } | undefined)?.error).toMatch(
      /^The saved things could not be read/,
    );
  });

  it("lets the trait's 'unavailable' speak for the model offline only while nothing was saved", () => {
    const blobs = new PanelBlobs<{ key: string }>("things");
    blobs.setLive(blob("0", { unavailable: "not an LM" }), "0");
    expect(blobs.answer("1")).toBeNull();
    expect(stateOf(blobs.answer("1"), false)).toBe("loading");
    expect(stateOf(blobs.answer("1", true), true)).toBe("unavailable");
    blobs.loadSnapshot(new Map([["2", blob("2")]]));
    expect(stateOf(blobs.answer("1", true), true)).toBe("missing");
    expect(stateOf(blobs.answer("2", true), true)).toBe("drawn");
  });
});
