// (D,) layers: bars for a few units (logits), a wrapped strip of cells for many.
import { clear, fmt, h } from "../dom";
import { type LayerData, unitOrder } from "./data";
import { capital, cellAt, type KindView, pixelCanvas, type ViewContext } from "./kind";
import "./vector.css";

const BARS_UP_TO = 48;

export class VectorView implements KindView {
  readonly el = h("div", { class: "acts-vector" });
  private body = h("div", { class: "acts-vector-body" });
  private detail = h("div", { class: "acts-detail" });
  private data: LayerData | null = null;
  private ctx: ViewContext | null = null;
  private order: Int32Array = new Int32Array(0);
  private position = new Int32Array(0);
  private mark = h("div", { class: "acts-cell-mark" });
  private cell = 4;
  private cols = 1;
  private rows = new Map<number, HTMLElement>();

  constructor() {
    this.el.append(this.body, this.detail);
  }

  render(data: LayerData, ctx: ViewContext): void {
    this.data = data;
    this.ctx = ctx;
    this.order = unitOrder(data, ctx.sort);
    this.position = new Int32Array(this.order.length);
    for (let j = 0; j < this.order.length; j++) this.position[this.order[j] as number] = j;
    clear(this.body);
    this.rows.clear();
    if (data.act.length <= BARS_UP_TO) this.bars(data, ctx);
    else this.strip(data, ctx);
    this.setUnit(ctx.unit);
  }

  private bars(data: LayerData, ctx: ViewContext): void {
    let peak = 0;
    for (const v of data.act) if (v - v === 0) peak = Math.max(peak, Math.abs(v));
    const signed = data.meta.min < 0;
    for (const u of this.order) {
      const v = data.act[u] as number;
      const frac = peak ? Math.min(1, Math.abs(v) / peak) : 0;
      const bar = h("div", { class: "acts-bar" });
      bar.style.width = `${(signed ? 50 : 100) * frac}%`;
      bar.style.background = ctx.cmap.css(v);
      if (signed) bar.style.marginLeft = v < 0 ? `${50 - 50 * frac}%` : "50%";
      const row = h(
        "div",
        { class: "acts-bar-row", "data-unit": u, role: "button" },
        h("span", { class: "acts-bar-label", text: String(u) }),
        h("div", { class: "acts-bar-track" }, bar),
        h("span", { class: "acts-bar-value", text: fmt(v) }),
      );
      row.addEventListener("click", () => ctx.onUnit(u));
      this.rows.set(u, row);
      this.body.append(row);
    }
  }

  private strip(data: LayerData, ctx: ViewContext): void {
    const D = data.act.length;
    this.cell = D <= 2048 ? 10 : D <= 20000 ? 4 : 2;
    this.cols = Math.max(1, Math.floor((ctx.width - 24) / this.cell));
    const rows = Math.ceil(D / this.cols);
    const sorted = ctx.sort === "index" ? undefined : this.order;
    const canvas = pixelCanvas(this.cols, rows, (px) => ctx.cmap.paint(data.act, px.subarray(0, D), sorted));
    canvas.style.width = `${this.cols * this.cell}px`;
    canvas.style.height = `${rows * this.cell}px`;
    const unitAt = (e: MouseEvent): number | undefined => {
      const [r, c] = cellAt(e, canvas, this.cell, this.cell);
      return c < this.cols ? this.order[r * this.cols + c] : undefined;
    };
    canvas.addEventListener("mousemove", (e) => {
      const u = unitAt(e);
      if (u === undefined) {
        ctx.tooltip.hide();
        return;
      }
      ctx.tooltip.show(e, [data.meta.layer, `${ctx.word} ${u}`, `value ${fmt(data.act[u] as number)}`]);
    });
    canvas.addEventListener("mouseleave", () => ctx.tooltip.hide());
    canvas.addEventListener("click", (e) => {
      const u = unitAt(e);
      if (u !== undefined) ctx.onUnit(u);
    });
    this.body.append(h("div", { class: "acts-strip" }, canvas, this.mark));
  }

  setUnit(unit: number | null): void {
    if (this.ctx) this.ctx.unit = unit;
    for (const [u, row] of this.rows) row.classList.toggle("acts-selected", u === unit);
    clear(this.detail);
    const data = this.data;
    if (!data) return;
    const word = capital(this.ctx?.word ?? "unit");
    if (unit === null || unit >= data.act.length) {
      this.mark.style.display = "none";
      if (unit !== null) {
        this.detail.append(
          h("div", { class: "acts-hint", text: `${word} ${unit} is outside the part shown.` }),
        );
      }
      return;
    }
    const j = this.position[unit] as number;
    if (!this.rows.size) {
      this.mark.style.display = "block";
      this.mark.style.left = `${(j % this.cols) * this.cell}px`;
      this.mark.style.top = `${Math.floor(j / this.cols) * this.cell}px`;
      this.mark.style.width = this.mark.style.height = `${this.cell}px`;
    }
    this.detail.append(
      h("div", {
        class: "acts-detail-title",
        text: `${word} ${unit}: ${fmt(data.act[unit] as number)} (rank ${rankOf(data, unit)} of ${data.act.length})`,
      }),
    );
  }
}

function rankOf(data: LayerData, unit: number): number {
  const v = data.act[unit] as number;
  let rank = 1;
  for (const x of data.act) if (x > v) rank++;
  return rank;
}
