// The `snapshot_data` trait: a compressed wire blob whose meta lists `keys` and whose arrays
// `e<n>` are the blobs filed under `keys[n]` = `snapshotKey(panel, key)`. Decoded here into
// one map per panel, from each panel's own key to its blob (each panel decodes its blobs).
import type { AnyModel } from "@anywidget/types";
import {
  type ErrorMeta,
  type SnapshotMeta,
  type SnapshotPanel,
  snapshotKey,
  snapshotPanelValues,
  type Traits,
  type UnavailableMeta,
} from "./traits";
import { asDataView, type Decoded, decode, decodeAsync, readOr } from "./wire";

export const SNAPSHOT_PANELS = snapshotPanelValues;
export type { SnapshotPanel };

export type Snapshot = Record<SnapshotPanel, Map<string, DataView>>;

export function emptySnapshot(): Snapshot {
  return {
    layer_view: new Map(),
    saliency: new Map(),
    examples: new Map(),
    outputs: new Map(),
    attention: new Map(),
    lens: new Map(),
    effects: new Map(),
    specific: new Map(),
  };
}

/** The panel and the panel's key of a snapshot entry key, or null for no known panel. */
export function splitSnapshotKey(full: string): [SnapshotPanel, string] | null {
  for (const panel of SNAPSHOT_PANELS) {
    const prefix = snapshotKey(panel, "");
    if (full.startsWith(prefix)) return [panel, full.slice(prefix.length)];
  }
  return null;
}

/** Every entry of a snapshot blob (compressed or not), filed by panel. Entries of unknown
 * panels, and entries that are not bytes, are skipped. */
export async function decodeSnapshot(blob: DataView): Promise<Snapshot> {
  const container = await decodeAsync<SnapshotMeta>(blob);
  const out = emptySnapshot();
  (container.meta.keys ?? []).forEach((full, n) => {
    const bytes = container.arrays.get(`e${n}`);
    const where = splitSnapshotKey(full);
    if (!(bytes instanceof Uint8Array) || !where) return;
    out[where[0]].set(where[1], new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
  return out;
}

/** What a panel shows for the current selection (its root's `data-<panel>` attribute). */
export type PanelState = "drawn" | "unavailable" | "loading" | "missing" | "error";

/** What a panel following a blob trait needs of the explorer. */
export interface BlobHost {
  model: AnyModel<Traits>;
  on(event: string, fn: () => void): void;
}

/** A panel's answer: its own meta, a panel that does not apply, or an error in place. */
export type PanelData<M> = Decoded<M | UnavailableMeta | ErrorMeta>;

/**
 * The blobs a panel may draw: the last one its trait sent and a snapshot's entries, by key.
 * Only the blob whose `meta.key` answers the selection is drawn. A trait blob that cannot be
 * read becomes an error answering the key asked for then; a snapshot entry that cannot be
 * read, an error answering its own key. Snapshot entries are decoded when asked for (the
 * last one is kept), not all at once.
 */
export class PanelBlobs<M extends { key: string }> {
  private live: PanelData<M> | null = null;
  private snap = new Map<string, DataView>();
  private cached: [string, PanelData<M>] | null = null;

  /** `what` names the data in errors ("the outputs"). */
  constructor(private what: string) {}

  /** Read a trait's value (a blob, or nothing); `key` is what the selection asks for now. */
  setLive(value: unknown, key: string): void {
    const blob = asDataView(value);
    this.live = blob
      ? readOr(
          () => decode<M | UnavailableMeta | ErrorMeta>(blob),
          (why) => this.failed(key, `The ${this.what} sent by Python could not be read: ${why}`),
        )
      : null;
  }

  /**
   * Follow the blob trait `trait` of `host.model`: read it now and whenever it changes
   * (`key()` is what the selection asks for then), and call `show` after each read.
   */
  follow(host: BlobHost, trait: keyof Traits, key: () => string, show: () => void): void {
    const read = (): void => {
      this.setLive(host.model.get(trait), key());
      show();
    };
    host.on(`change:${trait}`, read);
    read();
  }

  /** Keep a snapshot's entries (this panel's keys → blobs). */
  loadSnapshot(blobs: Map<string, DataView>): void {
    for (const [k, blob] of blobs) this.snap.set(k, blob);
    this.cached = null;
  }

  /** Whether the snapshot holds an entry for `key`. */
  saved(key: string): boolean {
    return this.snap.has(key);
  }

  /**
   * The blob answering `key` computed with the edits `tag` names ("" for none), or null. With `offline` set, a snapshot that holds nothing of
   * this panel (Python saves nothing for a panel that does not apply to the model) lets the
   * trait's last "unavailable" answer, for another key, speak for the model.
   */
  answer(key: string, offline = false, tag = ""): PanelData<M> | null {
    if (this.live?.meta.key === key && tagOf(this.live) === tag) return this.live;
    const blob = this.snap.get(key);
    if (blob) {
      if (this.cached?.[0] !== key) {
        const data = readOr<PanelData<M>>(
          () => decode<M | UnavailableMeta | ErrorMeta>(blob),
          (why) => this.failed(key, `The saved ${this.what} could not be read: ${why}`),
        );
        this.cached = [key, data];
      }
      // A saved answer for other edits than the active ones (or none) is not this one's.
      return tagOf(this.cached[1]) === tag || "error" in this.cached[1].meta ? this.cached[1] : null;
    }
    if (offline && this.snap.size === 0 && this.live && "unavailable" in this.live.meta) return this.live;
    return null;
  }

  private failed(key: string, error: string): PanelData<M> {
    return { meta: { key, error }, arrays: new Map(), shapes: new Map(), bytes: 0 };
  }
}

/** The edits an answer was computed with ("" for none): `meta.edits` (see `editsTag`). */
export function tagOf(data: { meta: object }): string {
  const edits = (data.meta as { edits?: unknown }).edits;
  return typeof edits === "string" ? edits : "";
}

/** The state of an answer (null: none yet, or none saved when `offline`). */
export function stateOf<M>(data: PanelData<M> | null, offline: boolean): PanelState {
  if (!data) return offline ? "missing" : "loading";
  const meta = data.meta as object;
  if ("error" in meta) return "error";
  if ("unavailable" in meta) return "unavailable";
  return "drawn";
}
