// A long attention pattern's overview (Python's `attention_blob` in panels/attention.py, its
// tiles from `overview_each`): every head's whole pattern as tiles, each tile its largest
// probability, beside the window of queries that the view holds exactly. The thumbnails
// draw the tiles (every query, not only the window's); the selected head's tiles are drawn
// large above the exact window, which is marked on them; a click there asks for the window
// around that query, and hovering names the queries and keys a tile covers.
import type { ColorMap } from "../colormap";
import { tileAt, tileRange, windowStart } from "../components/overview";
import type { Tooltip } from "../components/tooltip";
import { fmt, h } from "../dom";
import { pixelCanvas } from "../layouts/kind";
import type { AttentionViewMeta, OverviewMeta } from "../traits";
import type { WireArray } from "../wire";

const HEIGHT = 256; // one pixel a tile at the most tiles a side

/** One head's tiles, `o.rows × o.cols`, out of the `(heads, rows, cols)` overview array. */
export function headTiles(tiles: WireArray, o: OverviewMeta, head: number): WireArray {
  const n = o.rows * o.cols;
  return tiles.subarray(head * n, (head + 1) * n);
}

export interface OverviewOptions {
  meta: AttentionViewMeta;
  head: number;
  tiles: WireArray;
  cmap: ColorMap;
  tooltip: Tooltip;
  /** No kernel will answer: a click says what the page saved instead of asking. */
  offline: boolean;
  /** Show the window of queries starting here. */
  onWindow(start: number): void;
}

/** The selected head's whole pattern as tiles, the exact window of queries marked. */
export function headOverview(opts: OverviewOptions): HTMLElement | null {
  const { meta: m, head, cmap, tooltip } = opts;
  const o = m.overview;
  const w = m.window;
  if (!o) return null;
  const tiles = headTiles(opts.tiles, o, head);
  const canvas = pixelCanvas(o.cols, o.rows, (px) => cmap.paint(tiles, px), "acts-overview-canvas");
  canvas.style.height = `${HEIGHT}px`;
  const wide = Math.round((HEIGHT * m.keys) / Math.max(m.queries, 1)); // at most 3 × as wide
  canvas.style.width = `${Math.max(1, Math.min(3 * HEIGHT, wide))}px`;
  const box = h("div", { class: "acts-overview-box acts-attention-overview-box" }, canvas);
  if (w) {
    const mark = h("div", { class: "acts-overview-mark" });
    mark.style.top = `${(100 * w.start) / w.positions}%`;
    mark.style.height = `${Math.max(2, (100 * (w.stop - w.start)) / w.positions)}%`;
    box.append(mark);
  }
  const say = h("div", { class: "acts-overview-say", role: "status" });
  const at = (e: MouseEvent) => tileAt(e, canvas, o, m.queries);
  canvas.addEventListener("mousemove", (e) => {
    const [row, col] = at(e);
    tooltip.show(
      e,
      [
        `head ${head} · queries ${tileRange(row, o.tile_rows, m.queries)}`,
        `keys ${tileRange(col, o.tile_cols, m.keys)}`,
        `largest probability ${fmt(tiles[row * o.cols + col] as number)}`,
        w ? "click: show these queries exactly" : "",
      ].filter(Boolean),
    );
  });
  canvas.addEventListener("mouseleave", () => tooltip.hide());
  canvas.addEventListener("click", (e) => {
    if (!w) return;
    const query = at(e)[2];
    if (query >= w.start && query < w.stop) return;
    if (opts.offline) {
      say.textContent = `This page saved queries ${w.start}–${w.stop - 1} exactly; query ${query} is in the overview only.`;
      return;
    }
    opts.onWindow(windowStart(query, w.stop - w.start, w.positions));
  });
  return h(
    "div",
    { class: "acts-attention-overview", "data-head": head },
    h("div", {
      class: "acts-detail-title",
      text: `Head ${head}, every query: tiles of ${o.tile_rows} × ${o.tile_cols} (queries × keys), each its largest probability${w ? "; the marked ones exact below" : ""}`,
    }),
    box,
    say,
  );
}
