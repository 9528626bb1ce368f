import { describe, expect, it } from "vitest";
import { isFailure, type LayerData } from "../src/layouts/data";
import { browserLimit, storeBudget, ViewStore } from "../src/store";
import { layerViewKey } from "../src/traits";
import { errorBlob, viewBlob } from "./helpers/encode";

function layer(name: string, n: number, input = 0): LayerData {
  const empty = {
    units: new Int32Array(),
    max: new Float32Array(),
    mean: new Float32Array(),
    argmax: new Int32Array(),
    count: new Int32Array(),
  };
  return {
    meta: {
      key: layerViewKey(input, name),
      layer: name,
      input_index: input,
      kind: "vector",
      shape: [n],
      layer_shape: [n],
      unit_axis: 0,
      n_units: n,
      nan: 0,
      posinf: 0,
      neginf: 0,
      min: 0,
      max: 0,
      trimmed: null,
    },
    act: new Float32Array(n),
    shape: [n],
    ranking: { max: empty, mean: empty, count: empty },
    image: null,
    bytes: n * 2,
  };
}

describe("view store", () => {
  it("evicts the least recently used views beyond its byte budget", () => {
    const store = new ViewStore(4 * 1000 + 2 * 4096);
    store.put(layer("a", 500));
    store.put(layer("b", 500));
    expect(store.get("0|a")).toBeDefined(); // a is now the most recent
    store.put(layer("c", 500));
    expect(store.has("0|b")).toBe(false);
    expect(store.has("0|a")).toBe(true);
    expect(store.has("0|c")).toBe(true);
    expect(store.size).toBe(2 * (2000 + 4096));
    expect(store.room).toBe(4000 + 2 * 4096 - store.size);
  });

  it("shrinks to a new budget at once, the least recently used first, and tells watchers", () => {
    const store = new ViewStore();
    const seen: string[] = [];
    store.watch((d) => seen.push(d.meta.key));
    for (const name of ["a", "b", "c"]) store.put(layer(name, 500));
    store.get("0|a");
    store.setBudget(2 * (2000 + 4096));
    expect([store.has("0|a"), store.has("0|b"), store.has("0|c")]).toEqual([true, false, true]);
    store.setBudget(0); // not a budget: ignored
    expect(store.size).toBe(2 * (2000 + 4096));
    expect(seen).toEqual(["0|a", "0|b", "0|c"]);
    // a look that is not a use: peek leaves the order as it was
    store.setBudget(2 * (2000 + 4096));
    expect(store.peek("0|c")).toBeDefined(); // c, the oldest, stays the oldest
    store.put(layer("d", 500));
    expect([store.has("0|a"), store.has("0|c"), store.has("0|d")]).toEqual([true, false, true]);
    expect(store.size).toBeLessThanOrEqual(2 * (2000 + 4096)); // within budget when watchers run
  });

  it("files views by the key they answer, replacing an older answer", () => {
    const store = new ViewStore();
    const first = store.putBlob(viewBlob("enc.0", 3, "vector", [2], [1, 2]));
    expect(first.meta.key).toBe("3|enc.0");
    expect(store.get("3|enc.0")).toBe(first);
    expect(store.get("0|enc.0")).toBeUndefined();
    const size = store.size;
    const second = store.putBlob(viewBlob("enc.0", 3, "vector", [2], [5, 6]));
    expect(store.get("3|enc.0")).toBe(second);
    expect(store.size).toBe(size);
  });

  it("keeps pinned snapshot views past any budget, and holds errors as answers", () => {
    const store = new ViewStore(0);
    store.pin(layer("p", 10));
    store.put(layer("q", 10));
    expect(store.has("0|p")).toBe(true);
    expect(store.pinnedCount).toBe(1);
    const failed = store.putBlob(errorBlob("1|r", "no such input", { layer: "r", input_index: 1 }));
    expect(isFailure(failed)).toBe(true);
    expect(store.get("1|r")?.meta).toMatchObject({ key: "1|r", error: "no such input" });
  });
});

describe("the store's budget", () => {
  it("counts pinned views against it, so that prefetching stops short of them", () => {
    const store = new ViewStore(3 * (2000 + 4096));
    store.pin(layer("p", 500));
    store.pin(layer("p", 500)); // the same view again: counted once
    expect(store.pinnedSize).toBe(2000 + 4096);
    expect(store.room).toBe(2 * (2000 + 4096));
    store.put(layer("a", 500));
    store.put(layer("b", 500));
    store.put(layer("c", 500)); // over: the oldest unpinned goes
    expect([store.has("0|a"), store.has("0|b"), store.has("0|c"), store.has("0|p")]).toEqual([
      false,
      true,
      true,
      true,
    ]);
    expect(store.room).toBe(0);
  });

  it("leaves the other views half of it however much is pinned", () => {
    const store = new ViewStore(4 * (2000 + 4096));
    for (const name of ["p", "q", "r", "s", "t"]) store.pin(layer(name, 500)); // over the budget
    store.put(layer("a", 500));
    store.put(layer("b", 500));
    expect([store.has("0|a"), store.has("0|b")]).toEqual([true, true]);
    store.put(layer("c", 500));
    expect([store.has("0|a"), store.has("0|b"), store.has("0|c")]).toEqual([false, true, true]);
    expect(store.room).toBe(0);
  });

  it("is what was asked within what the browser can hold", () => {
    const MiB = 2 ** 20;
    expect(browserLimit(0, 0)).toBe(Number.POSITIVE_INFINITY); // the browser says nothing
    expect(browserLimit(4096 * MiB, undefined)).toBe(1024 * MiB); // a quarter of the JS heap
    expect(browserLimit(4096 * MiB, 1)).toBe(64 * MiB); // a sixteenth of a 1 GiB device
    expect(storeBudget(96 * MiB, Number.POSITIVE_INFINITY)).toBe(96 * MiB);
    expect(storeBudget(96 * MiB, browserLimit(4096 * MiB, 0.5))).toBe(32 * MiB);
    expect(storeBudget(96 * MiB, 100)).toBe(MiB); // never below 1 MiB
    expect(storeBudget(0)).toBe(0); // nothing asked: setBudget keeps what it has
  });
});
