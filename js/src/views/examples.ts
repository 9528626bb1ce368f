// The examples panel: a unit's top dataset examples in context, the histogram of its
// per-example maxima with quantile bands (click one to see samples from it), and its
// summary figures. Data: the `examples` trait (src/actscope/examples_payload.py) or a snapshot.
import { ColorMap, scaleFor } from "../colormap";
import { clear, fmt, h } from "../dom";
import type { Decoded } from "../wire";
import { rgbCanvas } from "./inputs";

export interface ExampleRow {
  id: number;
  value: number | null;
  position: number | null;
  kind?: "text" | "image" | "plain";
  tokens?: string[];
  peak?: number | number[];
  start?: number;
  box?: number[];
}

export interface BandInfo {
  lower_q: number;
  upper_q: number;
  lower: number | null;
  upper: number | null;
  sampled: number;
}

export interface ExamplesMeta {
  key: string;
  layer: string;
  unit: number;
  band?: number;
  summary?: {
    max: number | null;
    median: number | null;
    lowest: number | null;
    active_fraction: number | null;
    active_example_fraction: number | null;
    n_examples: number;
    positions: number;
    nan_examples: number;
  };
  bands?: BandInfo[];
  top?: ExampleRow[];
  band_rows?: ExampleRow[];
  has_context?: boolean;
  missing?: boolean;
  can_mine?: boolean;
  error?: string;
}

export type ExamplesData = Decoded<ExamplesMeta>;

export interface ExamplesActions {
  band: (band: number) => void;
  open: (id: number) => void;
  mine: () => void;
  live: () => boolean;
}

const pct = (v: number | null | undefined): string =>
  v == null ? "—" : `${(100 * v).toFixed(v < 0.1 ? 1 : 0)}%`;

export class ExamplesPanel {
  readonly el = h("div", { class: "acts-examples" });

  constructor(
    private actions: ExamplesActions,
    private isDark: () => boolean,
  ) {}

  /** Show `data` if it answers `key`, else `note` (nothing at all when `note` is null). */
  render(data: ExamplesData | null, key: string, note: string | null): void {
    clear(this.el);
    const ok = data && data.meta.key === key ? data : null;
    this.el.dataset.key = ok ? key : "";
    this.el.style.display = ok || note ? "block" : "none";
    this.el.append(h("div", { class: "acts-panel-title", text: "Dataset examples" }));
    if (!ok) {
      if (note) this.el.append(h("div", { class: "acts-hint", text: note }));
      return;
    }
    const m = ok.meta;
    if (m.error) {
      this.el.append(h("div", { class: "acts-saliency-error", text: m.error }));
      return;
    }
    if (m.missing) {
      this.missing(m);
      return;
    }
    this.summary(m);
    this.histogram(ok);
    const top = m.top ?? [];
    this.el.append(
      h("div", { class: "acts-detail-title", text: `Top ${top.length} examples of unit ${m.unit}` }),
    );
    this.el.append(this.rows(ok, top, "top", m.summary?.max ?? 1));
    const band = m.band ?? -1;
    const info = m.bands?.[band];
    if (info && m.band_rows) {
      this.el.append(
        h("div", {
          class: "acts-detail-title",
          text: `Samples from the ${pct(info.lower_q)}–${pct(info.upper_q)} band (${fmt(info.lower ?? Number.NaN)} … ${fmt(info.upper ?? Number.NaN)})`,
        }),
        this.rows(ok, m.band_rows, "band", m.summary?.max ?? 1),
      );
    }
  }

  private missing(m: ExamplesMeta): void {
    if (m.can_mine) {
      const button = h("button", {
        class: "acts-btn acts-mine",
        type: "button",
        text: `Mine top examples for ${m.layer}`,
      });
      button.disabled = !this.actions.live();
      button.title = this.actions.live()
        ? "Run the model over the dataset once, keeping each unit's top examples"
        : "Needs a running kernel";
      button.addEventListener("click", () => this.actions.mine());
      this.el.append(h("div", { class: "acts-hint", text: "No index covers this layer yet." }), button);
    } else {
      this.el.append(
        h("div", {
          class: "acts-hint",
          text: "No index covers this layer: pass Explorer(..., dataset=...) or index=actscope.mine(model, data, layers=[...]).",
        }),
      );
    }
  }

  private summary(m: ExamplesMeta): void {
    const s = m.summary;
    if (!s) return;
    const parts = [
      `max ${fmt(s.max ?? Number.NaN)}`,
      `median ${fmt(s.median ?? Number.NaN)}`,
      `active at ${pct(s.active_fraction)} of positions, in ${pct(s.active_example_fraction)} of examples`,
      `${s.n_examples.toLocaleString()} examples`,
    ];
    if (s.nan_examples) parts.push(`${s.nan_examples} with NaN`);
    this.el.append(h("div", { class: "acts-examples-summary", text: parts.join(" · ") }));
  }

  private histogram(d: ExamplesData): void {
    const edges = d.arrays.get("hist_edges");
    const counts = d.arrays.get("hist_counts");
    const bands = d.meta.bands ?? [];
    const box = h("div", { class: "acts-hist" });
    if (edges && counts?.length) {
      const peak = Math.max(...Array.from(counts), 1);
      const lo = edges[0] as number;
      const hi = edges[edges.length - 1] as number;
      const bars = h("div", { class: "acts-hist-bars", title: "per-example maxima" });
      counts.forEach((c, i) => {
        const bar = h("div", {
          class: "acts-hist-bar",
          title: `${fmt(edges[i] as number)} … ${fmt(edges[i + 1] as number)}: ${Math.round(c)} examples`,
        });
        bar.style.height = `${(100 * c) / peak}%`;
        bars.append(bar);
      });
      box.append(
        bars,
        h("div", { class: "acts-hist-axis" }, h("span", { text: fmt(lo) }), h("span", { text: fmt(hi) })),
      );
    }
    const strip = h("div", { class: "acts-bands", role: "group", "aria-label": "Quantile bands" });
    bands.forEach((b, i) => {
      const on = i === d.meta.band;
      const button = h("button", {
        class: `acts-band${on ? " acts-on" : ""}`,
        type: "button",
        "data-band": i,
        text: `${Math.round(100 * b.lower_q)}–${Math.round(100 * b.upper_q)}%`,
        title: `values ${fmt(b.lower ?? Number.NaN)} … ${fmt(b.upper ?? Number.NaN)}; ${b.sampled} sampled examples`,
      });
      button.addEventListener("click", () => this.actions.band(on ? -1 : i));
      strip.append(button);
    });
    box.append(strip);
    this.el.append(box);
  }

  private rows(d: ExamplesData, rows: ExampleRow[], group: string, peak: number): HTMLElement {
    const images = rows.length > 0 && rows.every((r) => r.kind === "image");
    const list = h("div", { class: `acts-example-list${images ? " acts-example-grid" : ""}` });
    const dark = this.isDark();
    rows.forEach((row, n) => {
      const item = h("div", {
        class: "acts-example",
        role: "button",
        "data-id": row.id,
        title: this.actions.live() ? `Open example ${row.id} as an input` : `example ${row.id}`,
      });
      item.append(h("span", { class: "acts-example-value", text: fmt(row.value ?? Number.NaN) }));
      const ctx = d.arrays.get(`${group}${n}`);
      if (row.kind === "text" && ctx && row.tokens) item.append(this.text(row, ctx, peak, dark));
      else if (row.kind === "image" && ctx instanceof Uint8Array && d.shapes.get(`${group}${n}`)) {
        const [H, W] = d.shapes.get(`${group}${n}`) as number[];
        item.append(this.image(ctx, H as number, W as number, row.box));
      }
      item.append(h("span", { class: "acts-example-id", text: `#${row.id}` }));
      item.addEventListener("click", () => {
        if (this.actions.live()) this.actions.open(row.id);
      });
      list.append(item);
    });
    return list;
  }

  private text(row: ExampleRow, values: ArrayLike<number>, peak: number, dark: boolean): HTMLElement {
    const cmap = new ColorMap(scaleFor(0, Math.max(peak, 1e-9), dark));
    const line = h("span", { class: "acts-token-line acts-example-text" });
    (row.tokens ?? []).forEach((tok, t) => {
      const v = values[t] as number;
      const span = h("span", {
        class: `acts-token${t === row.peak ? " acts-peak" : ""}`,
        text: tok,
        title: fmt(v),
      });
      span.style.background = cmap.css(v);
      span.style.color = cmap.textOn(v);
      line.append(span);
    });
    return line;
  }

  private image(rgb: Uint8Array, H: number, W: number, box?: number[]): HTMLElement {
    const wrap = h("span", { class: "acts-example-image" });
    const canvas = rgbCanvas(rgb, H, W, "acts-thumb acts-example-thumb");
    wrap.append(canvas);
    if (box && box.length === 4) {
      const [top, left, bottom, right] = box as [number, number, number, number];
      const mark = h("span", { class: "acts-example-box" });
      mark.style.top = `${(100 * top) / H}%`;
      mark.style.left = `${(100 * left) / W}%`;
      mark.style.height = `${(100 * (bottom - top)) / H}%`;
      mark.style.width = `${(100 * (right - left)) / W}%`;
      wrap.append(mark);
    }
    return wrap;
  }
}
