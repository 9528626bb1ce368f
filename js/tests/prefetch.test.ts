import { describe, expect, it } from "vitest";
import { type Clock, nextFetch, Prefetcher, type PrefetchQuery, prefetchOrder } from "../src/prefetch";
import type { FetchRequest, LayerInfo } from "../src/traits";
import { layerInfo } from "./helpers/layers";

const NAMES = ["l0", "l1", "l2", "l3", "l4", "l5", "l6"];
const key = (t: { input_index: number; layer: string } | null): string =>
  t ? `${t.input_index}|${t.layer}` : "none";

function query(fields: Partial<PrefetchQuery> = {}): PrefetchQuery {
  return {
    layers: NAMES.map((n) => layerInfo(n, { shape: [10] })),
    layer: "l3",
    inputIndex: 1,
    inputCount: 3,
    has: () => false,
    failed: new Set(),
    room: 1e9,
    ...fields,
  };
}

/** Every view nextFetch asks for in turn, each one then stored. */
function drain(q: PrefetchQuery): string[] {
  const stored = new Set<string>();
  const out: string[] = [];
  for (;;) {
    const next = nextFetch({ ...q, has: (k) => stored.has(k) || q.has(k) });
    if (!next) return out;
    stored.add(key(next));
    out.push(key(next));
  }
}

describe("prefetch order", () => {
  it("goes to the nearest layers, then the next and previous input, then by distance", () => {
    expect(prefetchOrder(NAMES, "l3", 1, 3).map(key)).toEqual([
      "1|l3",
      "1|l2",
      "1|l4",
      "2|l3",
      "0|l3",
      "1|l1",
      "1|l5",
      "1|l0",
      "1|l6",
    ]);
  });

  it("fetches the current view first when it is missing, and everything once", () => {
    expect(drain(query())).toEqual(["1|l3", "1|l2", "1|l4", "2|l3", "0|l3", "1|l1", "1|l5", "1|l0", "1|l6"]);
  });

  it("leaves out inputs beyond either end", () => {
    expect(drain(query({ inputIndex: 0, inputCount: 1 }))).toEqual(
      ["l3", "l2", "l4", "l1", "l5", "l0", "l6"].map((n) => `0|${n}`),
    );
    expect(drain(query({ inputIndex: 2 }))).toContain("1|l3");
    expect(drain(query({ inputIndex: 2 }))).not.toContain("3|l3");
  });

  it("starts from the top when the current layer is unknown", () => {
    expect(key(nextFetch(query({ layer: "nope", has: (k) => k === "1|l0" })))).toBe("1|l1");
  });

  it("skips what is stored or failed", () => {
    const stored = new Set(["1|l3", "1|l2"]);
    const failed = new Set(["1|l4", "2|l3"]);
    expect(key(nextFetch(query({ has: (k) => stored.has(k), failed })))).toBe("0|l3");
  });

  it("skips layers with no tensor, too large for a message, or for the store's room", () => {
    const layers: LayerInfo[] = [
      layerInfo("none", { kind: "none", shape: null }),
      layerInfo("huge", { shape: [2000, 2000] }),
      layerInfo("here", { shape: [10] }),
      layerInfo("roomy", { shape: [300] }),
      layerInfo("small", { shape: [4] }),
    ];
    const q = query({ layers, layer: "here", inputIndex: 0, inputCount: 1, room: 1000 });
    expect(drain(q)).toEqual(["0|here", "0|small"]); // roomy needs 1,200 bytes
    expect(drain({ ...q, room: 1e9 })).toEqual(["0|here", "0|roomy", "0|small"]);
    // the "none" layer does not count in the distances: "small" is two layers away, not three
    expect(prefetchOrder(["huge", "here", "roomy", "small"], "here", 0, 1).map(key)).toEqual([
      "0|here",
      "0|huge",
      "0|roomy",
      "0|small",
    ]);
  });

  it("does not fetch the next input of a layer with no tensor", () => {
    const layers = [layerInfo("none", { kind: "none", shape: null }), layerInfo("x", { shape: [3] })];
    expect(drain(query({ layers, layer: "none", inputIndex: 0, inputCount: 2 }))).toEqual(["0|x"]);
  });
});

/** A clock whose time and timers the test moves. */
class FakeClock implements Clock {
  t = 0;
  private timers = new Map<number, [number, () => void]>();
  private next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, [this.t + ms, fn]);
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  advance(ms: number): void {
    this.t += ms;
    for (const [id, [at, fn]] of [...this.timers]) {
      if (at <= this.t) {
        this.timers.delete(id);
        fn();
      }
    }
  }
  get pending(): number {
    return this.timers.size;
  }
}

function prefetcher(ready = true) {
  const clock = new FakeClock();
  const sent: FetchRequest[] = [];
  const stored = new Set<string>();
  const state = { ready, busy: false, sendOk: true };
  const p = new Prefetcher(
    {
      ready: () => state.ready,
      query: () => ({ ...query({ inputIndex: 0, inputCount: 1 }), has: (k) => stored.has(k) }),
      send: (msg) => {
        sent.push(msg);
        return state.sendOk;
      },
      busy: (on) => {
        state.busy = on;
      },
    },
    clock,
  );
  return { p, clock, sent, stored, state };
}

describe("Prefetcher", () => {
  it("waits for a 300 ms pause, restarting the wait at each call", () => {
    const { p, clock, sent } = prefetcher();
    p.whenIdle();
    clock.advance(200);
    p.whenIdle();
    clock.advance(299);
    expect(sent).toEqual([]);
    clock.advance(1);
    expect(sent).toEqual([{ type: "fetch", id: 1, layer: "l3", input_index: 0 }]);
  });

  it("keeps one request in flight, and goes on at once when the user is idle", () => {
    const { p, clock, sent, stored, state } = prefetcher();
    clock.advance(1000);
    p.run();
    p.run();
    expect(sent.length).toBe(1);
    expect(state.busy).toBe(true);
    stored.add("0|l3");
    p.answered({ type: "layer_view", id: 1, key: "0|l3" }, true);
    expect(sent.map((m) => [m.id, m.layer])).toEqual([
      [1, "l3"],
      [2, "l2"],
    ]);
  });

  it("after a recent selection, goes on only after a pause", () => {
    const { p, clock, sent } = prefetcher();
    p.run();
    clock.advance(1000);
    p.selected();
    clock.advance(100);
    p.answered({ type: "layer_view", id: 1, key: "0|l3" }, false);
    expect(sent.length).toBe(1);
    expect(clock.pending).toBe(1);
    clock.advance(300);
    expect(sent.length).toBe(2);
    expect(p.failed.has("0|l3")).toBe(true);
    expect(sent[1]?.layer).toBe("l2"); // the failed view is not asked again
  });

  it("does nothing until ready, and says when there is nothing left", () => {
    const { p, sent, state, stored } = prefetcher(false);
    p.run();
    expect(sent).toEqual([]);
    state.ready = true;
    for (const n of NAMES) stored.add(`0|${n}`);
    state.busy = true;
    p.run();
    expect(sent).toEqual([]);
    expect(state.busy).toBe(false);
  });

  it("is not stuck when a request cannot be sent", () => {
    const { p, sent, state } = prefetcher();
    state.sendOk = false;
    p.run();
    expect(state.busy).toBe(false);
    p.run();
    expect(sent.length).toBe(2); // nothing was in flight
  });

  it("ignores answers to other requests, and clears its timer when disposed", () => {
    const { p, clock, sent } = prefetcher();
    clock.advance(1000);
    p.run();
    p.answered({ type: "layer_view", id: 99, key: "0|x" }, true);
    expect(sent.length).toBe(1); // request 1 is still in flight
    p.whenIdle();
    p.dispose();
    expect(clock.pending).toBe(0);
  });
});
