import { describe, expect, it } from "vitest";
import { decodeSnapshot, emptySnapshot, SNAPSHOT_PANELS, splitSnapshotKey } from "../src/snapshot";
import { snapshotKey } from "../src/traits";
import { decode } from "../src/wire";
import { encodeBlob, snapshotBlob, viewBlob } from "./helpers/encode";

describe("snapshot keys", () => {
  it("split into the panel and the panel's own key", () => {
    expect(splitSnapshotKey("layer_view|0|features.conv1")).toEqual(["layer_view", "0|features.conv1"]);
    expect(splitSnapshotKey("saliency|2|gradient|unit:a|b:3")).toEqual(["saliency", "2|gradient|unit:a|b:3"]);
    expect(splitSnapshotKey("examples|enc.3|5|-1")).toEqual(["examples", "enc.3|5|-1"]);
    expect(splitSnapshotKey("view|0|a")).toBeNull(); // the old name of the layer view
    for (const panel of SNAPSHOT_PANELS)
      expect(splitSnapshotKey(snapshotKey(panel, "k"))).toEqual([panel, "k"]);
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
        ["figures|x", examples], // a panel this front end does not know
      ]),
    );
    expect([...snap.layer_view.keys()]).toEqual(["0|a"]);
    expect([...snap.saliency.keys()]).toEqual(["0|gradient|top"]);
    expect([...snap.examples.keys()]).toEqual(["a|1|-1"]);
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
