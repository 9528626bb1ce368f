// The attention panel (twin of src/actscope/widget/panels/attention.py): the attention
// patterns of the layer shown for the selected layer (the `attention_layers` trait: the layer
// itself, the attention of its block, or the first), one small canvas a head ranked by a head
// score (`head_score`), and the selected head (`head`, null: the top-ranked) large with its
// tokens on both axes. Data: the `attention_view` trait or a snapshot, tagged with its key.
import type { AnyModel } from "@anywidget/types";
import { ColorMap } from "../colormap";
import { windowStart } from "../components/overview";
import type { Tooltip } from "../components/tooltip";
import { clear, fmt, h, readableToken } from "../dom";
import { cellAt, pixelCanvas } from "../layouts/kind";
import { PanelBlobs, type PanelData, stateOf } from "../snapshot";
import {
  type AttentionViewMeta,
  attentionKey,
  type HeadScore,
  headScoreValues,
  type LayerInfo,
  type Traits,
} from "../traits";
import { headOverview, headTiles } from "./attention_overview";
import { editsTag } from "./edits";
import { drawOr, noteFor, quietPanel } from "./outputs";
import "./attention.css";

export interface AttentionHost {
  model: AnyModel<Traits>;
  tooltip: Tooltip;
  on(event: string, fn: () => void): void;
  layerInfo(name: string): LayerInfo | undefined;
  isDark(): boolean;
  /** True once it is clear that no kernel will answer (nothing more will arrive). */
  offline(): boolean;
  commit(debounce: boolean): void;
}

export const SCORE_LABELS: Record<HeadScore, string> = {
  previous_token: "previous token",
  induction: "induction",
  first_token: "first token (sink)",
  entropy: "entropy (lowest first)",
};

const NO_ATTENTION = "This model has no layer that looks like attention.";
/** Thumbnails' longer side, and the large pattern's target size, in CSS pixels. */
const THUMB = 64;
const BIG = 360;
const LABELLED = 96;

/**
 * The heads in the order a score ranks them: highest first, except entropy, lowest first
 * (a focused head is the interesting one). NaN (or a missing score) last; ties to the lower
 * index.
 */
export function headOrder(scores: readonly number[] | undefined, heads: number, score: HeadScore): number[] {
  const sign = score === "entropy" ? 1 : -1;
  const value = (i: number): number => {
    const v = scores?.[i];
    return typeof v === "number" && !Number.isNaN(v) ? v : Number.NaN;
  };
  return Array.from({ length: heads }, (_, i) => i).sort((a, b) => {
    const [va, vb] = [value(a), value(b)];
    if (Number.isNaN(va) || Number.isNaN(vb)) return Number.isNaN(va) ? (Number.isNaN(vb) ? a - b : 1) : -1;
    return va === vb ? a - b : sign * (va - vb);
  });
}

type Meta = AttentionViewMeta;

export class AttentionPanel {
  readonly el = h("div", { class: "acts-attention" });
  private scoreSelect = h("select", { class: "acts-select", "aria-label": "Rank heads by" });
  private blobs = new PanelBlobs<Meta>("attention patterns");
  private data: PanelData<Meta> | null = null;

  constructor(private host: AttentionHost) {
    for (const v of headScoreValues)
      this.scoreSelect.append(h("option", { value: v, text: SCORE_LABELS[v] }));
    this.scoreSelect.addEventListener("change", () => {
      const v = headScoreValues.find((s) => s === this.scoreSelect.value);
      if (!v) return;
      host.model.set("head_score", v);
      host.commit(false);
    });
    host.on("change:attention_layers", () => this.show());
    host.on("change:head", () => this.show());
    host.on("change:head_score", () => this.show());
    host.on("change:position", () => this.follow()); // the query of the coloured text
    this.blobs.follow(
      host,
      "attention_view",
      () => this.currentKey(),
      () => this.show(),
    );
  }

  /** A position picked out of a long pattern's window of queries: move the window there. */
  private follow(): void {
    const w = (this.data?.meta as Meta | undefined)?.window;
    const p = this.host.model.get("position");
    if (w && p != null && (p < w.start || p >= w.stop) && !this.host.offline()) {
      this.moveTo(windowStart(p, w.stop - w.start, w.positions));
      return;
    }
    this.show();
  }

  private moveTo(start: number): void {
    this.host.model.set("attention_start", start);
    this.host.commit(false);
  }

  /** Earlier/later over a long pattern's queries (a kernel computes each window). */
  private windowBar(w: NonNullable<Meta["window"]>): HTMLElement {
    const size = w.stop - w.start;
    const step = (dir: number, text: string) => {
      const b = h("button", { class: "acts-btn", type: "button", text });
      b.dataset.attentionStep = dir < 0 ? "earlier" : "later";
      const to = Math.max(0, Math.min(w.start + dir * size, w.positions - size));
      b.disabled = to === w.start || this.host.offline();
      b.addEventListener("click", () => this.moveTo(to));
      return b;
    };
    const where = `Queries ${w.start}–${w.stop - 1} of ${w.positions.toLocaleString("en")}, every key${this.host.offline() ? " (this page saved these only)" : ""}.`;
    return h(
      "div",
      { class: "acts-overview-bar", "data-start": w.start },
      step(-1, "◀ earlier"),
      step(1, "later ▶"),
      h("span", { text: where }),
    );
  }

  /** Keep a snapshot's patterns, by key. */
  loadSnapshot(blobs: Map<string, DataView>): void {
    this.blobs.loadSnapshot(blobs);
  }

  /** The attention layer shown while the selected layer is, or null (none). */
  shownLayer(): string | null {
    const layers = this.host.model.get("attention_layers") ?? {};
    const layer = this.host.model.get("layer");
    return layers[layer] ?? layers[this.host.layerInfo(layer)?.name ?? ""] ?? null;
  }

  currentKey(): string {
    const model = this.host.model;
    return attentionKey(model.get("input_index"), this.shownLayer() ?? model.get("layer"));
  }

  private score(): HeadScore {
    const s = this.host.model.get("head_score");
    return headScoreValues.includes(s) ? s : "induction";
  }

  show(): void {
    const model = this.host.model;
    if (model.get("attention_view") === undefined) {
      this.el.style.display = "none"; // saved by a version with no attention panel
      this.el.dataset.attention = "";
      return;
    }
    const key = this.currentKey();
    const offline = this.host.offline();
    const data = this.blobs.answer(key, offline, editsTag(this.host.model.get("edits")));
    let state = stateOf(data, offline);
    let note = noteFor(state, data, "this input and layer");
    if (this.shownLayer() === null && state !== "drawn" && state !== "error") {
      state = "unavailable";
      note =
        data && "unavailable" in data.meta
          ? data.meta.unavailable
          : Object.keys(model.get("attention_layers") ?? {}).length
            ? "No attention layer is shown for this layer."
            : NO_ATTENTION;
    }
    this.el.dataset.attention = state;
    this.el.dataset.key = data ? key : "";
    this.data = state === "drawn" ? data : null;
    if (!this.data) {
      quietPanel(this.el, "Attention", state, note);
      return;
    }
    this.draw();
  }

  /** Draw again (the theme changed). */
  redraw(): void {
    if (this.data) this.draw();
  }

  /** The head shown large: the `head` trait, or the top-ranked one. */
  selectedHead(order: number[]): number {
    const head = this.host.model.get("head");
    return head != null && order.includes(head) ? head : (order[0] ?? 0);
  }

  private draw(): void {
    drawOr(this.el, "Attention", "attention", () => this.paint());
  }

  private paint(): void {
    const data = this.data;
    if (!data) return;
    const m = data.meta as Meta;
    const [H, Q, K] = data.shapes.get("pattern") ?? [m.heads, m.queries, m.keys];
    const [heads, queries, keys] = [H ?? 0, Q ?? 0, K ?? 0];
    const pattern = data.arrays.get("pattern") ?? new Float32Array(0);
    const score = this.score();
    const scores = m.scores[score];
    const order = headOrder(scores, heads, score);
    const selected = this.selectedHead(order);
    const cmap = new ColorMap({ lo: 0, hi: 1, signed: false, dark: this.host.isDark() });
    const slice = (head: number) => pattern.subarray(head * queries * keys, (head + 1) * queries * keys);
    clear(this.el);
    this.el.classList.remove("acts-quiet");
    this.el.style.display = "";
    this.scoreSelect.value = score;
    this.el.append(
      h(
        "div",
        { class: "acts-attention-top" },
        h("span", { class: "acts-panel-title", text: "Attention" }),
        h("span", { class: "acts-layer-name", text: m.layer }),
        h("span", { class: "acts-label", text: `${heads} heads · input ${m.input_index}` }),
        h("span", { class: "acts-label acts-attention-rank", text: "rank heads by" }),
        this.scoreSelect,
      ),
    );
    if (m.trimmed) this.el.append(h("div", { class: "acts-note", text: m.trimmed.note }));
    if (m.window) this.el.append(this.windowBar(m.window));
    const grid = h("div", {
      class: "acts-attention-grid",
      role: "group",
      "aria-label": "Heads",
      "data-scroll": "heads",
    });
    // A long pattern's thumbnails draw its overview: every query of each head, not the window.
    const o = m.overview;
    const tiles = o ? data.arrays.get("overview") : undefined;
    const side = Math.max(o ? m.queries : queries, o ? m.keys : keys, 1);
    for (const head of order) {
      const thumb =
        o && tiles
          ? pixelCanvas(
              o.cols,
              o.rows,
              (px) => cmap.paint(headTiles(tiles, o, head), px),
              "acts-pixels acts-attention-thumb",
            )
          : pixelCanvas(
              keys,
              queries,
              (px) => cmap.paint(slice(head), px),
              "acts-pixels acts-attention-thumb",
            );
      thumb.style.width = `${Math.max(1, Math.round((THUMB * (o ? m.keys : keys)) / side))}px`;
      thumb.style.height = `${Math.max(1, Math.round((THUMB * (o ? m.queries : queries)) / side))}px`;
      const v = scores?.[head];
      const item = h(
        "div",
        {
          class: `acts-attention-head${head === selected ? " acts-on" : ""}`,
          role: "button",
          "data-head": head,
          title: `head ${head}: ${SCORE_LABELS[score]} ${v == null ? "—" : fmt(v)}`,
        },
        thumb,
        h("span", { class: "acts-attention-label", text: `head ${head} · ${v == null ? "—" : fmt(v)}` }),
      );
      item.addEventListener("click", () => this.select(head));
      grid.append(item);
    }
    this.el.append(grid);
    if (heads > 0 && tiles) {
      const onWindow = (start: number) => this.moveTo(start);
      const tooltip = this.host.tooltip;
      const offline = this.host.offline();
      const strip = headOverview({ meta: m, head: selected, tiles, cmap, tooltip, offline, onWindow });
      if (strip) this.el.append(strip);
    }
    if (heads > 0) {
      this.el.append(this.big(m, selected, slice(selected), queries, keys, cmap));
      this.el.append(this.attendsTo(m, selected, slice(selected), queries, keys, cmap));
    }
  }

  /** The first query drawn (a long pattern's window starts past 0). */
  private get offset(): number {
    return (this.data?.meta as Meta | undefined)?.window?.start ?? 0;
  }

  /** The row of the query at the selected position (the last one drawn by default). */
  private query(Q: number): number {
    const p = this.host.model.get("position");
    const q = p == null ? -1 : p - this.offset;
    return q >= 0 && q < Q ? q : Q - 1;
  }

  private pick(position: number): void {
    this.host.model.set("position", position);
    this.host.commit(false);
  }

  /** The text, each token coloured by how much the selected query attends to it; a click
   * on a token makes it the query (the shared `position`). */
  private attendsTo(m: Meta, head: number, values: ArrayLike<number>, Q: number, K: number, cmap: ColorMap) {
    const row = this.query(Q);
    const q = this.offset + row; // the query's position in the input
    const tokens = m.tokens ?? [];
    const line = h("div", { class: "acts-token-line acts-attention-text", "data-query": q });
    for (let k = 0; k < K; k++) {
      const p = values[row * K + k] as number;
      const span = h("span", {
        class: `acts-token acts-attention-key${k === q ? " acts-on" : ""}`,
        "data-position": k,
        text: readableToken(tokens[k] ?? `p${k}`, true),
        title: `key ${k}: ${fmt(p)} (click: make it the query)`,
      });
      span.style.background = cmap.css(p);
      span.style.color = cmap.textOn(p);
      span.addEventListener("click", () => this.pick(k));
      line.append(span);
    }
    return h(
      "div",
      { class: "acts-attention-attends" },
      h("div", {
        class: "acts-detail-title",
        text: `What “${readableToken(tokens[q] ?? `p${q}`)}” (position ${q}) attends to in head ${head}`,
      }),
      line,
    );
  }

  private select(head: number): void {
    this.host.model.set("head", head);
    this.host.commit(false);
  }

  /** One head large: queries on rows, keys on columns, token labels when they fit. */
  private big(
    m: Meta,
    head: number,
    values: ArrayLike<number>,
    Q: number,
    K: number,
    cmap: ColorMap,
  ): HTMLElement {
    // Cells big enough for token labels up to LABELLED positions (it scrolls), then smaller.
    const n = Math.max(Q, K, 1);
    const cs = Math.min(20, Math.max(n <= LABELLED ? 10 : 3, Math.floor(BIG / n)));
    const tokens = m.tokens ?? [];
    const tok = (i: number): string => readableToken(tokens[i] ?? `p${i}`);
    const off = this.offset; // row q is the query at position off + q
    const canvas = pixelCanvas(K, Q, (px) => cmap.paint(values, px), "acts-big acts-attention-map");
    canvas.style.width = `${K * cs}px`;
    canvas.style.height = `${Q * cs}px`;
    canvas.addEventListener("mousemove", (e) => {
      const [q, k] = cellAt(e, canvas, cs, cs);
      if (q < 0 || q >= Q || k < 0 || k >= K) {
        this.host.tooltip.hide();
        return;
      }
      this.host.tooltip.show(e, [
        `head ${head} · query ${off + q} → key ${k}`,
        `“${tok(off + q)}” → “${tok(k)}”: ${fmt(values[q * K + k] as number)}`,
      ]);
    });
    canvas.addEventListener("mouseleave", () => this.host.tooltip.hide());
    canvas.addEventListener("click", (e) => {
      const [q] = cellAt(e, canvas, cs, cs);
      if (q >= 0 && q < Q) this.pick(off + q);
    });
    const labelled = cs >= 8 && tokens.length > 0;
    const table = h("div", { class: "acts-attention-table" });
    table.style.gridTemplateColumns = labelled ? `max-content ${K * cs}px` : `${K * cs}px`;
    if (labelled) {
      const cols = h("div", { class: "acts-attention-cols" });
      const rows = h("div", { class: "acts-attention-rows" });
      for (let k = 0; k < K; k++) cols.append(this.label(tok(k), cs, `key ${k}`));
      for (let q = 0; q < Q; q++) rows.append(this.label(tok(off + q), cs, `query ${off + q}`));
      table.append(h("div"), cols, rows);
    }
    table.append(canvas);
    return h(
      "div",
      { class: "acts-attention-big", "data-head": head },
      h("div", {
        class: "acts-detail-title",
        text: `Head ${head} of ${m.layer}: each row a query, each column the key it attends to (0 … 1)`,
      }),
      h("div", { class: "acts-attention-scroll", "data-scroll": "pattern" }, table),
    );
  }

  private label(text: string, cs: number, title: string): HTMLElement {
    const el = h("div", { class: "acts-attention-tick", text, title: `${title}: ${text}` });
    el.style.setProperty("--acts-cell", `${cs}px`);
    return el;
  }
}
