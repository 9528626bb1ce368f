// The `snapshot_data` trait: a compressed wire blob whose meta lists `keys` and whose arrays
// `e<n>` are the blobs filed under `keys[n]` = `snapshotKey(panel, key)`. Decoded here into
// one map per panel, from each panel's own key to its blob (each panel decodes its blobs).
import { type SnapshotMeta, type SnapshotPanel, snapshotKey, snapshotPanelValues } from "./traits";
import { decodeAsync } from "./wire";

export const SNAPSHOT_PANELS = snapshotPanelValues;
export type { SnapshotPanel };

export type Snapshot = Record<SnapshotPanel, Map<string, DataView>>;

export function emptySnapshot(): Snapshot {
  return { layer_view: new Map(), saliency: new Map(), examples: new Map() };
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
