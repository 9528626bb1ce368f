// Decoded views by (input, layer): what the `view` trait delivered, what a snapshot holds,
// and what was prefetched while a kernel is live. An LRU bounded in bytes.
import { fromDecoded, key, type LayerData, type ViewMeta } from "./views/data";
import { decode } from "./wire";

export class ViewStore {
  private map = new Map<string, LayerData>();
  /** Views from a snapshot: never evicted (there may be no kernel to ask again). */
  private pinned = new Map<string, LayerData>();
  private total = 0;

  constructor(private budget = 96 * 2 ** 20) {}

  get(input: number, layer: string): LayerData | undefined {
    const k = key(input, layer);
    const data = this.map.get(k);
    if (!data) return this.pinned.get(k);
    if (data) {
      // refresh its LRU position
      this.map.delete(k);
      this.map.set(k, data);
    }
    return data;
  }

  has(input: number, layer: string): boolean {
    const k = key(input, layer);
    return this.map.has(k) || this.pinned.has(k);
  }

  /** Keep a snapshot's view for good. */
  pin(data: LayerData): void {
    this.pinned.set(key(data.meta.input, data.meta.layer), data);
  }

  get pinnedCount(): number {
    return this.pinned.size;
  }

  /** Decode a blob and keep it; returns the decoded view. */
  putBlob(view: DataView): LayerData {
    const data = fromDecoded(decode<ViewMeta>(view));
    this.put(data);
    return data;
  }

  put(data: LayerData): void {
    const k = key(data.meta.input, data.meta.layer);
    const old = this.map.get(k);
    if (old) {
      this.total -= cost(old);
      this.map.delete(k);
    }
    this.map.set(k, data);
    this.total += cost(data);
    for (const [oldKey, value] of this.map) {
      if (this.total <= this.budget || oldKey === k) break;
      this.map.delete(oldKey);
      this.total -= cost(value);
    }
  }

  /** Bytes held (decoded). */
  get size(): number {
    return this.total;
  }

  get room(): number {
    return this.budget - this.total;
  }
}

function cost(d: LayerData): number {
  return d.act.byteLength + 4096;
}
