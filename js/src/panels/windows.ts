// Which window of each long view is shown (Python's `widget/window.py`), and the fetches
// that ask the kernel for one: each at most once while it is in flight, each sent after
// the selection's traits (so that the kernel answers with the edits just set).
import { windowSuffix } from "../store";
import type { FetchRequest, ViewWindow } from "../traits";

export interface WindowAsk {
  /** The store key the answer is filed under (edits and window included). */
  filed: string;
  start: number;
  unit: number | null;
}

export class ViewWindows {
  private starts = new Map<string, number>();
  private inflight = new Map<number, WindowAsk>();
  private nextId = 0;

  constructor(private send: (msg: FetchRequest) => boolean) {}

  /** The first position shown for `key` (undefined: the first window, never moved). */
  start(key: string): number | undefined {
    return this.starts.get(key);
  }

  set(key: string, start: number): void {
    this.starts.set(key, start);
  }

  /** Back to the first window of `key`. */
  reset(key: string): void {
    this.starts.delete(key);
  }

  /** What `storeKey` adds for the window shown for `key`. */
  suffix(key: string): string {
    return windowSuffix(this.starts.get(key) ?? 0);
  }

  /**
   * Ask for the window of `layer` of `input` from `start` (with `unit`'s values at every
   * position), filed under `tagged` + its window; nothing if the same is in flight. Sent
   * in a microtask: after the traits the caller's event sets are committed.
   */
  ask(tagged: string, layer: string, input: number, start: number, unit: number | null): void {
    const filed = tagged + windowSuffix(start);
    for (const a of this.inflight.values()) if (a.filed === filed && a.unit === unit) return;
    const id = -++this.nextId; // the prefetcher's ids are positive
    const msg: FetchRequest = { type: "fetch", id, layer, input_index: input, start };
    if (unit !== null) msg.unit = unit;
    this.inflight.set(id, { filed, start, unit });
    queueMicrotask(() => {
      if (!this.send(msg)) this.inflight.delete(id);
    });
  }

  /** A reply came for request `id`: what it asked, if it was one of ours. */
  answered(id: number): WindowAsk | undefined {
    const asked = this.inflight.get(id);
    this.inflight.delete(id);
    return asked;
  }
}

/** The window a snapshot saved (Python's `further_windows`: at multiples of the window's
 * size, the last ending at the last position) that holds the middle of the one from
 * `start`. */
export function savedWindow(w: ViewWindow, start: number): number {
  const size = w.stop - w.start;
  return Math.min(Math.floor((start + size / 2) / size) * size, w.positions - size);
}

/** Whether two views' fingerprints differ only in the unit a window's column is for. */
export function sameButUnit(a: string, b: string): boolean {
  return a.slice(0, a.lastIndexOf("|")) === b.slice(0, b.lastIndexOf("|"));
}
