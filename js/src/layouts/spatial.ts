// (C, H, W) layers: a grid of channel maps on one colour scale, each with its max, sortable;
// the selected channel large, over the input image when there is one. A layer over one
// message's limit (Python's `widget/window.py`) holds a window of channels exactly and every
// channel's map as tiles: those outside the window are drawn from their tiles until selected
// (the selected channel's whole map then comes exact).
import { tileRange } from "../components/overview";
import { clear, fmt, h } from "../dom";
import { type LayerData, unitOrder, unitStats } from "./data";
import { cellAt, type KindView, pixelCanvas, type ViewContext } from "./kind";
import "./spatial.css";

const PAGE = 192;
const TILE = 56;
const BIG = 240;

export class SpatialView implements KindView {
  readonly el = h("div", { class: "acts-spatial" });
  private grid = h("div", { class: "acts-grid" });
  private more = h("button", { class: "acts-btn acts-more", type: "button" });
  private detail = h("div", { class: "acts-detail" });
  private data: LayerData | null = null;
  private ctx: ViewContext | null = null;
  private order: Int32Array = new Int32Array(0);
  private shown = 0;
  private opacity = 0.7;
  private tiles = new Map<number, HTMLElement>();

  constructor() {
    this.el.append(this.grid, this.more, this.detail);
    this.more.addEventListener("click", () => this.page());
  }

  render(data: LayerData, ctx: ViewContext): void {
    this.data = data;
    this.ctx = ctx;
    this.order = unitOrder(data, ctx.sort);
    this.shown = 0;
    this.tiles.clear();
    clear(this.grid);
    this.page();
    this.setUnit(ctx.unit);
  }

  /** Channel `c`'s map: exact (`w × h` = the layer's W × H), or its overview tiles. */
  private mapOf(c: number): { values: ArrayLike<number>; w: number; h: number; exact: boolean } {
    const data = this.data as LayerData;
    const [H, W] = [data.shape[1] ?? 1, data.shape[2] ?? 1];
    const win = data.meta.window;
    const start = win?.start ?? 0;
    if (!win || (c >= start && c < win.stop)) {
      return {
        values: data.act.subarray((c - start) * H * W, (c - start + 1) * H * W),
        w: W,
        h: H,
        exact: true,
      };
    }
    if (win.unit === c && data.column) return { values: data.column, w: W, h: H, exact: true };
    const o = data.meta.overview;
    const n = (o?.rows ?? 0) * (o?.cols ?? 0);
    const values = data.overview?.subarray(c * n, (c + 1) * n) ?? new Float32Array(0);
    return { values, w: o?.cols ?? 0, h: o?.rows ?? 0, exact: false };
  }

  /** The tooltip of `(y, x)` of channel `c`'s drawn map. */
  private tip(c: number, m: ReturnType<SpatialView["mapOf"]>, y: number, x: number): string[] {
    const data = this.data as LayerData;
    const value = fmt(m.values[y * m.w + x] as number);
    if (m.exact) return [data.meta.layer, `channel ${c}`, `y ${y}, x ${x}`, `value ${value}`];
    const o = data.meta.overview;
    const [H, W] = [data.shape[1] ?? 1, data.shape[2] ?? 1];
    const [ys, xs] = [tileRange(y, o?.tile_rows ?? 1, H), tileRange(x, o?.tile_cols ?? 1, W)];
    return [data.meta.layer, `channel ${c} (tiles)`, `y ${ys}, x ${xs}`, `largest |value| ${value}`];
  }

  /** Draw the next page of tiles. */
  private page(): void {
    const { data, ctx } = this;
    if (!data || !ctx) return;
    const [C, H, W] = [this.channels(), data.shape[1] ?? 1, data.shape[2] ?? 1];
    const stats = unitStats(data);
    const end = Math.min(C, this.shown + PAGE);
    for (let i = this.shown; i < end; i++) {
      const c = this.order[i] as number;
      const canvas = this.tileCanvas(c, ctx, H, W);
      const tile = h(
        "div",
        { class: "acts-tile", "data-unit": c, role: "button", title: `channel ${c}` },
        canvas,
        h("span", { class: "acts-tile-caption", text: `${c} · ${fmt(stats.max[c] as number)}` }),
      );
      tile.addEventListener("click", () => ctx.onUnit(c));
      this.tiles.set(c, tile);
      this.grid.append(tile);
    }
    this.shown = end;
    this.more.style.display = end < C ? "inline-block" : "none";
    this.more.textContent = `Show ${Math.min(PAGE, C - end)} more of ${C - end} channels`;
    if (this.ctx) this.highlight(this.ctx.unit);
  }

  /** Channel `c`'s small map in the grid (from its tiles when it is not exact). */
  private tileCanvas(c: number, ctx: ViewContext, H: number, W: number): HTMLCanvasElement {
    const cell = Math.max(1, Math.floor(TILE / Math.max(H, W)));
    const m = this.mapOf(c);
    const canvas = pixelCanvas(m.w, m.h, (px) => ctx.cmap.paint(m.values, px));
    canvas.style.width = `${W * cell}px`;
    canvas.style.height = `${H * cell}px`;
    canvas.dataset.exact = String(m.exact);
    canvas.addEventListener("mousemove", (e) => {
      const [y, x] = cellAt(e, canvas, (W * cell) / m.w, (H * cell) / m.h);
      if (y >= 0 && y < m.h && x >= 0 && x < m.w) ctx.tooltip.show(e, this.tip(c, m, y, x));
    });
    canvas.addEventListener("mouseleave", () => ctx.tooltip.hide());
    return canvas;
  }

  /** Every channel of the layer (a windowed view holds only some exactly). */
  private channels(): number {
    const data = this.data;
    return (data?.meta.window ? data.meta.shape[0] : data?.shape[0]) ?? 0;
  }

  /** The selected channel's whole map came (a windowed view): draw it large, keep the grid. */
  refresh(data: LayerData): void {
    this.data = data;
    const unit = this.ctx?.unit ?? null;
    const old = unit === null ? null : this.tiles.get(unit)?.querySelector("canvas");
    if (this.ctx && unit !== null && old) {
      old.replaceWith(this.tileCanvas(unit, this.ctx, data.shape[1] ?? 1, data.shape[2] ?? 1));
    }
    this.setUnit(unit);
  }

  private highlight(unit: number | null): void {
    for (const [c, tile] of this.tiles) tile.classList.toggle("acts-selected", c === unit);
  }

  setUnit(unit: number | null): void {
    if (this.ctx) this.ctx.unit = unit;
    this.highlight(unit);
    clear(this.detail);
    const { data, ctx } = this;
    if (!data || !ctx) return;
    const [C, H, W] = [this.channels(), data.shape[1] ?? 1, data.shape[2] ?? 1];
    if (unit === null || unit >= C) {
      this.detail.append(
        h("div", {
          class: "acts-hint",
          text:
            unit === null
              ? "Click a channel to see it large, over the input."
              : `Channel ${unit} is outside the part of the layer shown here.`,
        }),
      );
      return;
    }
    const m = this.mapOf(unit);
    const map = pixelCanvas(m.w, m.h, (px) => ctx.cmap.paint(m.values, px));
    const scale = Math.max(1, Math.floor(BIG / Math.max(H, W)));
    const big = h("canvas", { class: "acts-big", width: W * scale, height: H * scale, "data-unit": unit });
    const draw = (): void => {
      const g = big.getContext("2d");
      if (!g) return;
      g.clearRect(0, 0, big.width, big.height);
      if (data.image) {
        const img = pixelCanvas(data.image.w, data.image.h, (px) => {
          const rgb = data.image?.data as Uint8Array;
          for (let p = 0; p < px.length; p++) {
            px[p] =
              (0xff000000 |
                ((rgb[p * 3 + 2] as number) << 16) |
                ((rgb[p * 3 + 1] as number) << 8) |
                (rgb[p * 3] as number)) >>>
              0;
          }
        });
        g.imageSmoothingEnabled = false;
        g.drawImage(img, 0, 0, big.width, big.height);
        g.globalAlpha = this.opacity;
      }
      g.imageSmoothingEnabled = Boolean(data.image);
      g.drawImage(map, 0, 0, big.width, big.height);
      g.globalAlpha = 1;
    };
    draw();
    big.dataset.exact = String(m.exact);
    big.addEventListener("mousemove", (e) => {
      const [y, x] = cellAt(e, big, (W * scale) / m.w, (H * scale) / m.h);
      if (y >= 0 && y < m.h && x >= 0 && x < m.w) ctx.tooltip.show(e, this.tip(unit, m, y, x));
    });
    big.addEventListener("mouseleave", () => ctx.tooltip.hide());
    const stats = unitStats(data);
    const pos = stats.argmax[unit] as number;
    const title = h("div", {
      class: "acts-detail-title",
      text: `Channel ${unit}: max ${fmt(stats.max[unit] as number)} at y ${Math.floor(pos / W)}, x ${pos % W}; mean ${fmt(stats.mean[unit] as number)}`,
    });
    this.detail.append(title, big);
    if (!m.exact) {
      const why = ctx.offline?.() ? "this page saved its tiles only" : "its exact map is on its way";
      this.detail.append(h("div", { class: "acts-hint", text: `Drawn from tiles: ${why}.` }));
    }
    if (data.image) {
      const slider = h("input", {
        type: "range",
        min: 0,
        max: 100,
        value: Math.round(this.opacity * 100),
        class: "acts-opacity",
        "aria-label": "Map opacity over the input",
      });
      slider.addEventListener("input", () => {
        this.opacity = Number(slider.value) / 100;
        draw();
      });
      this.detail.append(h("label", { class: "acts-slider" }, "map opacity ", slider));
    }
  }
}
