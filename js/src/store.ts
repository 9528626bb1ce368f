// Decoded layer views by key (`layerViewKey(input_index, layer)`, what each blob answers,
// with `~` and the edits it was computed with, if any: `taggedKey`):
// what the `layer_view` trait delivered, what a snapshot holds, and what was prefetched while
// a kernel is live. An LRU bounded in bytes.
import { type LayerEntry, layerViewFromBlob } from "./layouts/data";
import { taggedKey } from "./panels/edits";

/** Where a view is filed: its key, the edits it was computed with, and for a window of a
 * long view (`meta.window`) other than the first, its first position. */
export function storeKey(data: LayerEntry): string {
  const edits = (data.meta as { edits?: unknown }).edits;
  const start = (data.meta as { window?: { start?: unknown } }).window?.start;
  const tagged = taggedKey(data.meta.key, typeof edits === "string" ? edits : "");
  return tagged + windowSuffix(typeof start === "number" ? start : 0);
}

/** What `storeKey` adds for a window starting at `start` (nothing for the first). */
export function windowSuffix(start: number): string {
  return start > 0 ? `@${start}` : "";
}

/** What the browser says it can hold, in bytes (Chromium's JS heap limit, a quarter of it;
 * `navigator.deviceMemory`, a sixteenth), or Infinity where it says nothing. */
export function browserLimit(
  heapLimit = (globalThis.performance as { memory?: { jsHeapSizeLimit?: number } } | undefined)?.memory
    ?.jsHeapSizeLimit,
  deviceGiB = (globalThis.navigator as { deviceMemory?: number } | undefined)?.deviceMemory,
): number {
  const heap = heapLimit && heapLimit > 0 ? heapLimit / 4 : Number.POSITIVE_INFINITY;
  const device = deviceGiB && deviceGiB > 0 ? (deviceGiB * 2 ** 30) / 16 : Number.POSITIVE_INFINITY;
  return Math.min(heap, device);
}

/** The store's budget: the `store_bytes` asked for, within what the browser can hold (at
 * least 1 MiB; 0, which `setBudget` ignores, when nothing was asked). */
export function storeBudget(requested: number, limit = browserLimit()): number {
  if (!(requested > 0)) return 0;
  return Math.max(2 ** 20, Math.floor(Math.min(requested, limit)));
}

export class ViewStore {
  private map = new Map<string, LayerEntry>();
  /** Views from a snapshot: never evicted (there may be no kernel to ask again). */
  private pinned = new Map<string, LayerEntry>();
  private total = 0;
  /** Bytes of the pinned views: never evicted, but counted against the budget (at most
   * half of it: the other views always have the rest). */
  private pinnedTotal = 0;
  private watchers: ((data: LayerEntry) => void)[] = [];

  constructor(private budget = 96 * 2 ** 20) {}

  /** Hold at most `bytes` from now on (the least recently used go first). */
  setBudget(bytes: number): void {
    if (!(bytes > 0)) return;
    this.budget = bytes;
    for (const [key, value] of this.map) {
      if (this.total + this.pinnedCharge <= this.budget) break;
      this.map.delete(key);
      this.total -= cost(value);
    }
  }

  /** Call `fn` with each view put in the store (from the trait, a prefetch or a snapshot). */
  watch(fn: (data: LayerEntry) => void): void {
    this.watchers.push(fn);
  }

  get(key: string): LayerEntry | undefined {
    const data = this.map.get(key);
    if (!data) return this.pinned.get(key);
    // refresh its LRU position
    this.map.delete(key);
    this.map.set(key, data);
    return data;
  }

  has(key: string): boolean {
    return this.map.has(key) || this.pinned.has(key);
  }

  /** Keep a snapshot's view for good. */
  pin(data: LayerEntry): void {
    const k = storeKey(data);
    const old = this.pinned.get(k);
    this.pinnedTotal += cost(data) - (old ? cost(old) : 0);
    this.pinned.set(k, data);
    for (const fn of this.watchers) fn(data);
  }

  get pinnedCount(): number {
    return this.pinned.size;
  }

  /** Decode a blob and keep it; returns the decoded view. */
  putBlob(view: DataView): LayerEntry {
    const data = layerViewFromBlob(view);
    this.put(data);
    return data;
  }

  put(data: LayerEntry): void {
    const k = storeKey(data);
    const old = this.map.get(k);
    if (old) {
      this.total -= cost(old);
      this.map.delete(k);
    }
    this.map.set(k, data);
    this.total += cost(data);
    for (const [oldKey, value] of this.map) {
      if (this.total + this.pinnedCharge <= this.budget || oldKey === k) break;
      this.map.delete(oldKey);
      this.total -= cost(value);
    }
    for (const fn of this.watchers) fn(data);
  }

  /** The view filed under `key`, without making it the most recently used. */
  peek(key: string): LayerEntry | undefined {
    return this.map.get(key) ?? this.pinned.get(key);
  }

  /** Bytes held (decoded), the pinned views aside. */
  get size(): number {
    return this.total;
  }

  /** Bytes of the pinned (snapshot) views. */
  get pinnedSize(): number {
    return this.pinnedTotal;
  }

  get limit(): number {
    return this.budget;
  }

  /** What can be added before views are evicted (the pinned ones count). */
  get room(): number {
    return this.budget - this.total - this.pinnedCharge;
  }

  /** What the pinned views take of the budget. */
  private get pinnedCharge(): number {
    return Math.min(this.pinnedTotal, this.budget / 2);
  }
}

function cost(d: LayerEntry): number {
  if (!("act" in d)) return 4096;
  return d.act.byteLength + (d.overview?.byteLength ?? 0) + (d.column?.byteLength ?? 0) + 4096;
}
