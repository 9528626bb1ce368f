// A long sequence view's overview (Python's `widget/window.py`): the whole layer as tiles,
// each its value of largest magnitude, beside the window of positions drawn exactly. A
// click on it, or earlier/later, asks for another window; the window is marked on it.
import type { ColorMap } from "../colormap";
import { clear, fmt, h } from "../dom";
import type { LayerData } from "../layouts/data";
import { pixelCanvas } from "../layouts/kind";
import type { OverviewMeta } from "../traits";
import type { Tooltip } from "./tooltip";
import "./overview.css";

const HEIGHT = 120;

/** The first position of the window that shows `position` in the middle, on a grid of a
 * quarter window (so that nearby clicks ask for the same window), clamped to the layer. */
export function windowStart(position: number, size: number, positions: number): number {
  const step = Math.max(1, Math.floor(size / 4));
  const start = Math.round((position - size / 2) / step) * step;
  return Math.max(0, Math.min(start, positions - size));
}

/** The positions and units tile (`row`, `col`) covers, as "a–b". */
export function tileRange(index: number, tile: number, total: number): string {
  const first = index * tile;
  return `${first}–${Math.min(total, first + tile) - 1}`;
}

/** The tile row and column under the mouse on an overview `canvas` of `o`'s tiles, and the
 * position (of `positions`) at its height. */
export function tileAt(
  e: MouseEvent,
  canvas: HTMLElement,
  o: OverviewMeta,
  positions: number,
): [number, number, number] {
  const box = canvas.getBoundingClientRect();
  const y = Math.min(0.9999, Math.max(0, (e.clientY - box.top) / Math.max(box.height, 1)));
  const x = Math.min(0.9999, Math.max(0, (e.clientX - box.left) / Math.max(box.width, 1)));
  return [Math.floor(y * o.rows), Math.floor(x * o.cols), Math.floor(y * positions)];
}

export class OverviewStrip {
  readonly el = h("div", { class: "acts-overview" });
  private say = h("div", { class: "acts-overview-say", role: "status" });

  constructor(
    private tooltip: Tooltip,
    /** Show the window starting at this position. */
    private onWindow: (start: number) => void,
  ) {}

  /** Draw `data`'s overview (hidden for a view that is not windowed). */
  render(data: LayerData | null, cmap?: ColorMap, word = "unit"): void {
    clear(this.el);
    this.say.textContent = "";
    const w = data?.meta.window;
    const o = data?.meta.overview;
    const tiles = data?.meta.kind === "sequence" ? data.overview : undefined; // channels: in the grid
    this.el.hidden = !w || !o || !tiles || !cmap;
    if (!w || !o || !tiles || !cmap) return;
    const size = w.stop - w.start;
    const units = data.meta.shape[1] ?? 0;
    const canvas = pixelCanvas(o.cols, o.rows, (px) => cmap.paint(tiles, px), "acts-overview-canvas");
    canvas.style.height = `${HEIGHT}px`;
    const mark = h("div", { class: "acts-overview-mark" });
    mark.style.top = `${(100 * w.start) / w.positions}%`;
    mark.style.height = `${Math.max(2, (100 * size) / w.positions)}%`;
    const at = (e: MouseEvent) => tileAt(e, canvas, o, w.positions);
    canvas.addEventListener("mousemove", (e) => {
      const [row, col] = at(e);
      this.tooltip.show(e, [
        `positions ${tileRange(row, o.tile_rows, w.positions)}`,
        `${word}s ${tileRange(col, o.tile_cols, units)}`,
        `largest |value| ${fmt(tiles[row * o.cols + col] as number)}`,
        "click: show these positions exactly",
      ]);
    });
    canvas.addEventListener("mouseleave", () => this.tooltip.hide());
    canvas.addEventListener("click", (e) => this.onWindow(windowStart(at(e)[2], size, w.positions)));
    const step = (dir: number) => () =>
      this.onWindow(Math.max(0, Math.min(w.start + dir * size, w.positions - size)));
    const earlier = h("button", { class: "acts-btn", type: "button", text: "◀ earlier" });
    const later = h("button", { class: "acts-btn", type: "button", text: "later ▶" });
    earlier.dataset.step = "earlier";
    later.dataset.step = "later";
    earlier.disabled = w.start === 0;
    later.disabled = w.stop >= w.positions;
    earlier.addEventListener("click", step(-1));
    later.addEventListener("click", step(1));
    const where = `Exact: positions ${w.start}–${w.stop - 1} of ${w.positions.toLocaleString("en")}.`;
    const tile = `Overview: tiles of ${o.tile_rows} position${o.tile_rows > 1 ? "s" : ""} × ${o.tile_cols} ${word}${o.tile_cols > 1 ? "s" : ""}, each its value of largest magnitude.`;
    this.el.dataset.start = String(w.start);
    this.el.append(
      h("div", { class: "acts-overview-bar" }, earlier, later, h("span", { text: `${where} ${tile}` })),
      h("div", { class: "acts-overview-box" }, canvas, mark),
      this.say,
    );
  }

  /** A line under the overview (a window that cannot be shown, and why). */
  tell(text: string): void {
    this.say.textContent = text;
  }
}
