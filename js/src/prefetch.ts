// Prefetching layer views over custom messages while a kernel is live: what to fetch next
// (a pure function of the selection and what the store holds), and the one-at-a-time,
// wait-for-a-pause loop around it.
import { type FetchRequest, type LayerInfo, type LayerViewReply, layerViewKey } from "./traits";

/** Views larger than this (values) are never prefetched: they load when opened. */
export const PREFETCH_MAX_VALUES = 2_000_000;
/** Prefetching starts this long after the last selection (or drawing). */
export const PREFETCH_IDLE_MS = 300;
/** Layers above and below the current one fetched before the next and previous input. */
export const PREFETCH_NEAR_LAYERS = 2;

export interface FetchTarget {
  input_index: number;
  layer: string;
}

export interface PrefetchQuery {
  /** Every layer, in tree order (`layers_info`). */
  layers: readonly Pick<LayerInfo, "name" | "kind" | "shape">[];
  layer: string;
  inputIndex: number;
  inputCount: number;
  /** Whether the store already holds the view with this key. */
  has: (key: string) => boolean;
  /** Keys whose fetch failed: not asked again. */
  failed: ReadonlySet<string>;
  /** Bytes the store can take before it evicts. */
  room: number;
  maxValues?: number;
}

/**
 * Every candidate in order: the current layer and its nearest layers (±`near`), then this
 * layer of the next and the previous input (stepping with →/←), then the rest of this
 * input's layers by distance (the layer above before the one below at equal distance).
 */
export function prefetchOrder(
  names: readonly string[],
  layer: string,
  inputIndex: number,
  inputCount: number,
  near = PREFETCH_NEAR_LAYERS,
): FetchTarget[] {
  const at = Math.max(0, names.indexOf(layer));
  const byDistance = names
    .map((name, i) => [name, Math.abs(i - at)] as const)
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => ({ input_index: inputIndex, layer: name }));
  const neighbours = names.includes(layer)
    ? [inputIndex + 1, inputIndex - 1]
        .filter((i) => i >= 0 && i < inputCount)
        .map((i) => ({ input_index: i, layer }))
    : [];
  const first = 1 + near; // the current layer (already drawn) and its neighbours
  return [...byDistance.slice(0, first), ...neighbours, ...byDistance.slice(first)];
}

/** The next view to fetch, or null when there is nothing (left) worth fetching. Skips layers
 * of kind "none", views stored or failed, and views too large for a message or the store. */
export function nextFetch(q: PrefetchQuery): FetchTarget | null {
  const infos = new Map(q.layers.map((l) => [l.name, l]));
  const names = q.layers.filter((l) => l.kind !== "none").map((l) => l.name);
  const max = q.maxValues ?? PREFETCH_MAX_VALUES;
  for (const target of prefetchOrder(names, q.layer, q.inputIndex, q.inputCount)) {
    const key = layerViewKey(target.input_index, target.layer);
    if (q.failed.has(key) || q.has(key)) continue;
    const values = (infos.get(target.layer)?.shape ?? []).reduce((a, b) => a * b, 1);
    if (values > max || values * 4 > q.room) continue;
    return target;
  }
  return null;
}

/** Time and timers, injectable for tests. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface PrefetchHost {
  /** Whether to prefetch now: a kernel is live, the current view is drawn, `prefetch` is on. */
  ready(): boolean;
  query(): Omit<PrefetchQuery, "failed">;
  /** Send a request; false when it could not be sent. */
  send(msg: FetchRequest): boolean;
  /** Whether a fetch is in flight (`data-prefetching`). */
  busy(on: boolean): void;
}

/**
 * Fetches, one at a time, what the user is likely to open next, and only once they pause:
 * someone stepping quickly through inputs must not queue background work ahead of their
 * next click in the kernel.
 */
export class Prefetcher {
  readonly failed = new Set<string>();
  private inflight: number | null = null;
  private nextId = 1;
  private selectedAt = 0;
  private idle: unknown = null;

  constructor(
    private host: PrefetchHost,
    private clock: Clock = realClock,
  ) {}

  /** The user selected something: the chain waits for a pause. */
  selected(): void {
    this.selectedAt = this.clock.now();
  }

  /** Run once the user has been idle for `PREFETCH_IDLE_MS`. */
  whenIdle(): void {
    if (this.idle !== null) this.clock.clearTimeout(this.idle);
    this.idle = this.clock.setTimeout(() => {
      this.idle = null;
      this.run();
    }, PREFETCH_IDLE_MS);
  }

  /** Ask for the next view now, unless one is in flight or prefetching is not ready. */
  run(): void {
    if (this.inflight !== null || !this.host.ready()) return;
    const next = nextFetch({ ...this.host.query(), failed: this.failed });
    if (!next) {
      this.host.busy(false);
      return;
    }
    const id = this.nextId++;
    this.inflight = id;
    if (!this.host.send({ type: "fetch", id, layer: next.layer, input_index: next.input_index })) {
      this.inflight = null;
    }
    this.host.busy(this.inflight !== null);
  }

  /** A `layer_view` reply arrived (`ok`: with a blob, now stored): go on with the chain, at
   * once while the user is idle, after a pause when they selected something recently. */
  answered(reply: LayerViewReply, ok: boolean): void {
    if (reply.id === this.inflight) this.inflight = null;
    if (!ok) this.failed.add(reply.key);
    if (this.clock.now() - this.selectedAt < PREFETCH_IDLE_MS) this.whenIdle();
    else this.run();
  }

  dispose(): void {
    if (this.idle !== null) this.clock.clearTimeout(this.idle);
    this.idle = null;
  }
}
