// (T, D) sequences: a token × neuron heatmap, neurons sortable, and the tokens coloured by
// the selected neuron. Also draws "other" layouts as positions × units.
import { ColorMap } from "../colormap";
import { clear, fmt, h, readableToken } from "../dom";
import { type LayerData, unitOrder } from "./data";
import { capital, cellAt, type KindView, pixelCanvas, type ViewContext } from "./kind";
import "./sequence.css";

const ROW = 14;
const LABEL_WIDTH = 110;

export class SequenceView implements KindView {
  readonly el = h("div", { class: "acts-seq" });
  private scroll = h("div", { class: "acts-seq-scroll" });
  private detail = h("div", { class: "acts-detail" });
  /** The units most active at a clicked token: "which features fire on this token?" */
  private at = h("div", { class: "acts-at" });
  private mark = h("div", { class: "acts-col-mark" });
  private data: LayerData | null = null;
  private ctx: ViewContext | null = null;
  private order: Int32Array = new Int32Array(0);
  private position = new Int32Array(0);
  private cw = 2;
  /** The first position drawn (a window of a long view starts past 0). */
  private offset = 0;

  constructor() {
    this.el.append(this.scroll, this.detail, this.at);
  }

  render(data: LayerData, ctx: ViewContext): void {
    this.data = data;
    this.ctx = ctx;
    const [T, D] = [data.shape[0] ?? 0, data.shape[1] ?? 0];
    const off = data.meta.window?.start ?? 0;
    this.offset = off;
    this.order = unitOrder(data, ctx.sort);
    this.position = new Int32Array(D);
    for (let j = 0; j < D; j++) this.position[this.order[j] as number] = j;
    this.cw = Math.max(2, Math.min(24, Math.floor((ctx.width - LABEL_WIDTH - 20) / Math.max(D, 1))));
    const labels = h("div", { class: "acts-seq-labels", style: `width: ${LABEL_WIDTH}px` });
    const tokens = data.meta.tokens;
    for (let t = 0; t < T; t++) {
      const p = off + t;
      const text = tokens ? readableToken(tokens[p] ?? "") : `pos ${p}`;
      const label = h("div", {
        class: "acts-seq-label",
        text,
        title: `position ${p}: ${text} (click: the ${ctx.word}s most active here)`,
        "data-position": p,
      });
      label.addEventListener("click", () => this.showAt(t));
      labels.append(label);
    }
    const act = data.act;
    const sorted = ctx.sort === "index" ? undefined : this.order;
    const canvas = pixelCanvas(D, T, (px) => {
      for (let t = 0; t < T; t++) {
        ctx.cmap.paint(act.subarray(t * D, (t + 1) * D), px.subarray(t * D, (t + 1) * D), sorted);
      }
    });
    canvas.style.width = `${D * this.cw}px`;
    canvas.style.height = `${T * ROW}px`;
    const wrap = h("div", { class: "acts-seq-canvas" }, canvas, this.mark);
    canvas.addEventListener("mousemove", (e) => this.hover(e, canvas));
    canvas.addEventListener("mouseleave", () => ctx.tooltip.hide());
    canvas.addEventListener("click", (e) => {
      const [, j] = cellAt(e, canvas, this.cw, ROW);
      const unit = this.order[j];
      if (unit !== undefined) ctx.onUnit(unit);
    });
    clear(this.scroll);
    clear(this.at);
    this.scroll.append(h("div", { class: "acts-seq-grid" }, labels, wrap));
    this.setUnit(ctx.unit);
  }

  private hover(e: MouseEvent, canvas: HTMLElement): void {
    const { data, ctx } = this;
    if (!data || !ctx) return;
    const D = data.shape[1] ?? 0;
    const [t, j] = cellAt(e, canvas, this.cw, ROW);
    const unit = this.order[j];
    if (unit === undefined || t < 0 || t >= (data.shape[0] ?? 0)) {
      ctx.tooltip.hide();
      return;
    }
    const p = this.offset + t;
    const tok = data.meta.tokens?.[p];
    ctx.tooltip.show(e, [
      data.meta.layer,
      `${ctx.word} ${unit}`,
      tok !== undefined ? `token ${p} “${readableToken(tok)}”` : `position ${p}`,
      `value ${fmt(data.act[t * D + unit] as number)}`,
    ]);
  }

  refresh(data: LayerData): void {
    this.data = data;
    this.setUnit(this.ctx?.unit ?? null);
  }

  setUnit(unit: number | null): void {
    if (this.ctx) this.ctx.unit = unit;
    const data = this.data;
    clear(this.detail);
    if (!data) return;
    const D = data.shape[1] ?? 0;
    const word = this.ctx?.word ?? "neuron";
    if (unit === null || unit >= D) {
      this.mark.style.display = "none";
      this.detail.append(
        h("div", {
          class: "acts-hint",
          text:
            unit === null
              ? `Click a ${word} (a column) or a row of the ranking to colour the tokens by it.`
              : `${capital(word)} ${unit} is outside the part of the layer shown here.`,
        }),
      );
      return;
    }
    const j = this.position[unit] ?? 0;
    this.mark.style.display = "block";
    this.mark.style.left = `${j * this.cw}px`;
    this.mark.style.width = `${Math.max(this.cw, 2)}px`;
    const left = j * this.cw;
    if (
      left < this.scroll.scrollLeft ||
      left > this.scroll.scrollLeft + this.scroll.clientWidth - LABEL_WIDTH
    ) {
      this.scroll.scrollLeft = Math.max(0, left - this.scroll.clientWidth / 2);
    }
    this.detail.append(this.tokensFor(data, unit));
  }

  /** The units most active at position `t` (at most 12, non-zero), each a button that
   * selects it. */
  showAt(t: number): void {
    const { data, ctx } = this;
    clear(this.at);
    if (!data || !ctx) return;
    const D = data.shape[1] ?? 0;
    const row = data.act.subarray(t * D, (t + 1) * D);
    const units: number[] = [];
    for (let u = 0; u < D; u++) {
      const v = row[u] as number;
      if (v !== 0 && v - v === 0) units.push(u);
    }
    units.sort((a, b) => (row[b] as number) - (row[a] as number) || a - b);
    const p = this.offset + t;
    const tok = data.meta.tokens?.[p];
    const where = tok !== undefined ? `“${readableToken(tok)}” (position ${p})` : `position ${p}`;
    this.at.dataset.position = String(p);
    const word = ctx.word;
    if (!units.length) {
      this.at.append(h("div", { class: "acts-hint", text: `No ${word} is active at ${where}.` }));
      return;
    }
    const shown = units.slice(0, 12);
    this.at.append(
      h("div", {
        class: "acts-detail-title",
        text: `The ${word}s most active at ${where}: ${shown.length} of ${units.length} active`,
      }),
    );
    const list = h("div", { class: "acts-at-list" });
    for (const u of shown) {
      const b = h("button", {
        class: `acts-btn acts-at-unit${u === ctx.unit ? " acts-on" : ""}`,
        type: "button",
        "data-unit": u,
        text: `${u} · ${fmt(row[u] as number)}`,
        title: `${capital(word)} ${u}: ${fmt(row[u] as number)} here`,
      });
      b.addEventListener("click", () => ctx.onUnit(u));
      list.append(b);
    }
    this.at.append(list);
  }

  /** The input's tokens, each coloured by the neuron's activation there. */
  private tokensFor(data: LayerData, unit: number): HTMLElement {
    const [rows, D] = [data.shape[0] ?? 0, data.shape[1] ?? 0];
    // A window of a long view: every position from the unit's column once it has come.
    const col = data.meta.window?.unit === unit ? data.column : undefined;
    const off = col ? 0 : this.offset;
    const T = col ? col.length : rows;
    const value = (t: number) => (col ? (col[t] as number) : (data.act[t * D + unit] as number));
    let peak = 0;
    let lo = 0;
    for (let t = 0; t < T; t++) {
      const v = value(t);
      if (v - v === 0) {
        peak = Math.max(peak, Math.abs(v));
        lo = Math.min(lo, v);
      }
    }
    const cmap = new ColorMap({
      lo: lo < 0 ? -peak : 0,
      hi: peak || 1,
      signed: lo < 0,
      dark: this.ctx?.dark ?? false,
    });
    const box = h("div", { class: "acts-token-text", "data-unit": unit });
    const w = data.meta.window;
    const part = w && !col ? ` at positions ${w.start}–${w.stop - 1} of ${w.positions}` : "";
    box.append(
      h("div", {
        class: "acts-detail-title",
        text: `${capital(this.ctx?.word ?? "neuron")} ${unit} on this input${part} (colour scale: its own peak, ${fmt(peak)})`,
      }),
    );
    const line = h("div", { class: "acts-token-line" });
    for (let t = 0; t < T; t++) {
      const v = value(t);
      const p = off + t;
      const tok = readableToken(data.meta.tokens?.[p] ?? `p${p}`, true);
      const span = h("span", { class: "acts-token", text: tok, title: `token ${p}: ${fmt(v)}` });
      span.style.background = cmap.css(v);
      span.style.color = cmap.textOn(v);
      line.append(span);
    }
    box.append(line);
    return box;
  }
}
