// The logit lens panel (twin of src/actscope/widget/panels/lens.py): for the selected input,
// what each block's output predicts through the model's final norm and unembedding. Rows are
// layers (the first at the top), columns positions; each cell holds its top token, coloured by
// its probability, and its hover the top k and the rank of the position's final prediction.
// Clicking a column selects that position (the `position` trait, shared with the outputs).
import type { AnyModel } from "@anywidget/types";
import { ColorMap } from "../colormap";
import type { Tooltip } from "../components/tooltip";
import { clear, h, readableToken } from "../dom";
import { PanelBlobs, type PanelData, stateOf } from "../snapshot";
import { type LensViewMeta, lensKey, type Traits } from "../traits";
import { editsTag } from "./edits";
import { drawOr, noteFor, pct, quietPanel } from "./outputs";
import "../components/grid.css";
import "./lens.css";

export interface LensHost {
  model: AnyModel<Traits>;
  tooltip: Tooltip;
  on(event: string, fn: () => void): void;
  isDark(): boolean;
  /** True once it is clear that no kernel will answer (nothing more will arrive). */
  offline(): boolean;
  commit(debounce: boolean): void;
}

type Meta = LensViewMeta;

export class LensPanel {
  readonly el = h("div", { class: "acts-lens" });
  private blobs = new PanelBlobs<Meta>("logit lens");
  private data: PanelData<Meta> | null = null;
  private drawnKey = "";
  private columns: HTMLElement[][] = [];

  constructor(private host: LensHost) {
    this.blobs.follow(
      host,
      "lens_view",
      () => this.currentKey(),
      () => this.show(),
    );
  }

  /** Keep a snapshot's lenses, by key. */
  loadSnapshot(blobs: Map<string, DataView>): void {
    this.blobs.loadSnapshot(blobs);
  }

  currentKey(): string {
    return lensKey(this.host.model.get("input_index"));
  }

  show(): void {
    const model = this.host.model;
    if (model.get("lens_view") === undefined) {
      this.el.style.display = "none"; // saved by a version with no logit lens
      this.el.dataset.lens = "";
      return;
    }
    const key = this.currentKey();
    const offline = this.host.offline();
    const data = this.blobs.answer(key, offline, editsTag(this.host.model.get("edits")));
    const state = stateOf(data, offline);
    this.el.dataset.lens = state;
    this.el.dataset.key = data ? key : "";
    if (state !== "drawn" || !data) {
      this.data = null;
      this.drawnKey = "";
      quietPanel(this.el, "Logit lens", state, noteFor(state, data, "this input"));
      return;
    }
    if (data === this.data && key === this.drawnKey) {
      this.mark(); // only the position changed
      return;
    }
    this.data = data;
    this.drawnKey = key;
    this.draw();
  }

  /** Draw again (the theme changed). */
  redraw(): void {
    if (this.data) this.draw();
  }

  /** The first position decoded: a long input's lens covers its last positions only. */
  private first = 0;

  /** The column of the selected position: the trait's, or the last one. */
  private position(T: number): number {
    const p = this.host.model.get("position");
    const col = p == null ? -1 : p - this.first;
    return col >= 0 && col < T ? col : T - 1;
  }

  private draw(): void {
    drawOr(this.el, "Logit lens", "lens", () => this.paint());
  }

  private paint(): void {
    const data = this.data;
    if (!data) return;
    const m = data.meta as Meta;
    const [L, T, k] = data.shapes.get("ids") ?? [m.layers.length, m.tokens.length, 0];
    const [layers, positions, top] = [L ?? 0, T ?? 0, k ?? 0];
    const ids = data.arrays.get("ids") ?? new Int32Array(0);
    const probs = data.arrays.get("probs") ?? new Float32Array(0);
    const finals = data.arrays.get("token") ?? new Int32Array(0);
    const first = m.first ?? 0;
    this.first = first;
    const cmap = new ColorMap({ lo: 0, hi: 1, signed: false, dark: this.host.isDark() });
    const name = (id: number | undefined): string =>
      id === undefined ? "" : readableToken(m.names[String(id)] ?? String(id));
    clear(this.el);
    this.el.classList.remove("acts-quiet");
    this.el.style.display = "";
    this.el.append(
      h(
        "div",
        { class: "acts-lens-top" },
        h("span", { class: "acts-panel-title", text: "Logit lens" }),
        h("span", {
          class: "acts-label",
          text:
            `the top next token at each layer's output (colour: its probability) · input ${m.input_index}` +
            (first > 0
              ? ` · positions ${first}–${first + positions - 1}, the last ${positions} (ex.figure(view="lens") decodes all)`
              : ""),
        }),
      ),
    );
    this.columns = Array.from({ length: positions }, () => []);
    const head = h("tr", {}, h("th", { class: "acts-lens-corner acts-grid-corner", text: "layer \\ token" }));
    for (let t = 0; t < positions; t++) {
      const th = h("th", {
        class: "acts-lens-col acts-grid-col",
        "data-position": t + first,
        role: "button",
        text: readableToken(m.tokens[t] ?? `p${t + first}`),
        title: `position ${t + first}: final prediction “${name(finals[t])}”`,
      });
      th.addEventListener("click", () => this.select(t));
      head.append(th);
      this.columns[t]?.push(th);
    }
    const body = h("tbody");
    for (let l = 0; l < layers; l++) {
      const row = h(
        "tr",
        {},
        h("th", {
          class: "acts-lens-layer acts-grid-layer",
          text: m.layers[l] ?? `${l}`,
          title: m.layers[l],
        }),
      );
      for (let t = 0; t < positions; t++) {
        const at = (l * positions + t) * top;
        const p = probs[at] ?? Number.NaN;
        const cell = h("td", {
          class: `acts-lens-cell${ids[at] === finals[t] ? " acts-lens-final" : ""}`,
          "data-position": t + first,
          "data-layer": l,
          text: name(ids[at]),
        });
        if (Number.isFinite(p)) {
          cell.style.background = cmap.css(p);
          cell.style.color = cmap.textOn(p);
        }
        cell.addEventListener("mousemove", (e) => this.host.tooltip.show(e, this.hover(data, m, l, t, name)));
        cell.addEventListener("mouseleave", () => this.host.tooltip.hide());
        cell.addEventListener("click", () => this.select(t));
        row.append(cell);
        this.columns[t]?.push(cell);
      }
      body.append(row);
    }
    this.el.append(
      h(
        "div",
        { class: "acts-lens-scroll acts-grid-scroll", "data-scroll": "grid" },
        h("table", { class: "acts-lens-grid acts-grid" }, h("thead", {}, head), body),
      ),
    );
    this.mark();
  }

  private hover(
    data: PanelData<Meta>,
    m: Meta,
    l: number,
    t: number,
    name: (id: number | undefined) => string,
  ): string[] {
    const [, T, k] = data.shapes.get("ids") ?? [0, 0, 0];
    const [positions, top] = [T ?? 0, k ?? 0];
    const ids = data.arrays.get("ids") ?? new Int32Array(0);
    const probs = data.arrays.get("probs") ?? new Float32Array(0);
    const lines = [
      `${m.layers[l] ?? l} · position ${t + (m.first ?? 0)} “${readableToken(m.tokens[t] ?? "")}”`,
    ];
    for (let j = 0; j < top; j++) {
      const at = (l * positions + t) * top + j;
      lines.push(`  ${pct(probs[at] as number).padStart(6)}  “${name(ids[at])}”`);
    }
    const final = data.arrays.get("token")?.[t];
    const rank = data.arrays.get("token_rank")?.[l * positions + t];
    const prob = data.arrays.get("token_prob")?.[l * positions + t];
    if (final !== undefined) {
      lines.push(
        `final prediction “${name(final)}”: rank ${rank === undefined ? "—" : rank + 1}, ${pct(prob ?? Number.NaN)}`,
      );
    }
    return lines;
  }

  /** Highlight the selected position's column. */
  private mark(): void {
    const selected = this.position(this.columns.length);
    this.columns.forEach((cells, t) => {
      for (const c of cells) c.classList.toggle("acts-on", t === selected);
    });
    // Bring the column into view (a long input scrolls sideways).
    const th = this.columns[selected]?.[0];
    const box = this.el.querySelector<HTMLElement>(".acts-lens-scroll");
    if (
      th &&
      box &&
      (th.offsetLeft < box.scrollLeft || th.offsetLeft > box.scrollLeft + box.clientWidth - 60)
    ) {
      box.scrollLeft = Math.max(0, th.offsetLeft - box.clientWidth / 2);
    }
  }

  private select(column: number): void {
    this.host.model.set("position", column + this.first);
    this.host.commit(false);
  }
}
