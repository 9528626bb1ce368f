// The examples panel (twin of src/actscope/widget/panels/examples.py): a unit's top dataset
// examples in context, the histogram of its per-example maxima with quantile bands (click
// one to see samples from it), and its summary figures. Data: the `examples_view` trait or a
// snapshot, each blob tagged with the key (layer, unit, band) it answers.
import type { AnyModel } from "@anywidget/types";
import { ColorMap, scaleFor } from "../colormap";
import { rgbCanvas } from "../components/inputs";
import { clear, fmt, h, readableToken } from "../dom";
import { layerWord } from "../layouts/kind";
import {
  type ErrorMeta,
  type ExampleRow,
  type ExamplesMissingMeta,
  type ExamplesViewMeta,
  examplesKey,
  type Request,
  type Traits,
} from "../traits";
import { asDataView, type Decoded, decode, readOr } from "../wire";
import "./examples.css";

export type ExamplesMeta = ExamplesViewMeta | ExamplesMissingMeta | ErrorMeta;
export type ExamplesData = Decoded<ExamplesMeta>;

export interface ExamplesHost {
  model: AnyModel<Traits>;
  on(event: string, fn: () => void): void;
  isDark(): boolean;
  /** Whether a kernel answered (mining and opening an example need one). */
  live(): boolean;
  /** True once it is clear that no kernel will answer (nothing more will arrive). */
  offline(): boolean;
  send(msg: Request): boolean;
  commit(debounce: boolean): void;
}

const pct = (v: number | null | undefined): string =>
  v == null ? "—" : `${(100 * v).toFixed(v < 0.1 ? 1 : 0)}%`;

export class ExamplesPanel {
  private shown: ExamplesData | null = null;
  readonly el = h("div", { class: "acts-examples" });
  private live: ExamplesData | null = null;
  private snap = new Map<string, ExamplesData>();

  constructor(private host: ExamplesHost) {
    host.on("change:examples_view", () => this.onTrait());
    host.on("change:examples_band", () => this.show());
    host.on("change:mining", () => this.show());
    this.onTrait();
  }

  private onTrait(): void {
    const blob = asDataView(this.host.model.get("examples_view"));
    this.live = blob
      ? readOr(
          () => decode<ExamplesMeta>(blob),
          (why) => this.unreadable(why),
        )
      : null;
    this.show();
  }

  /** What answers the current unit when Python's blob cannot be read: an error in place. */
  private unreadable(reason: string): ExamplesData {
    const model = this.host.model;
    const key = examplesKey(model.get("layer"), model.get("unit") ?? -1, model.get("examples_band") ?? -1);
    const error = `The examples sent by Python could not be read: ${reason}`;
    return { meta: { key, error }, arrays: new Map(), shapes: new Map(), bytes: 0 };
  }

  /** Keep a snapshot's examples, by key (unreadable entries are skipped). */
  loadSnapshot(blobs: Map<string, DataView>): void {
    for (const [k, blob] of blobs) {
      const data = readOr<ExamplesData | null>(
        () => decode<ExamplesMeta>(blob),
        () => null,
      );
      if (data) this.snap.set(k, data);
    }
  }

  /** What the panel should show for the current unit (hidden without data). */
  show(): void {
    const model = this.host.model;
    const mining = model.get("mining");
    const available = Boolean(mining?.has_dataset || mining?.layers?.length || this.snap.size);
    const unit = model.get("unit");
    if (unit === null) {
      this.render(null, "", available ? "Select a unit to see the dataset examples that drive it." : null);
      return;
    }
    const k = examplesKey(model.get("layer"), unit, model.get("examples_band") ?? -1);
    const data = this.live?.meta.key === k ? this.live : (this.snap.get(k) ?? null);
    let note: string | null = null;
    if (!data && available) {
      note = this.host.offline()
        ? "These examples were not saved with the page (see ex.snapshot(units=...))."
        : "loading…";
    }
    this.render(data, k, note);
  }

  private band(band: number): void {
    this.host.model.set("examples_band", band);
    this.host.commit(false);
  }

  private open(id: number): void {
    if (this.host.live()) this.host.send({ type: "open_example", id });
  }

  /** The range of the drawn unit's mined per-example maxima (its histogram), if drawn. */
  minedRange(): [number, number] | null {
    const edges = this.shown?.arrays.get("hist_edges");
    if (!edges || edges.length < 2) return null;
    const [lo, hi] = [edges[0] as number, edges[edges.length - 1] as number];
    return Number.isFinite(lo) && Number.isFinite(hi) ? [lo, hi] : null;
  }

  /** Show `data` if it answers `key`, else `note` (nothing at all when `note` is null). */
  private render(data: ExamplesData | null, key: string, note: string | null): void {
    clear(this.el);
    const ok = data && data.meta.key === key ? data : null;
    this.shown = ok && !("error" in ok.meta) && !("missing" in ok.meta) ? ok : null;
    this.el.dataset.key = ok ? key : "";
    this.el.style.display = ok || note ? "block" : "none";
    this.el.append(h("div", { class: "acts-panel-title", text: "Dataset examples" }));
    if (!ok) {
      if (note) this.el.append(h("div", { class: "acts-hint", text: note }));
      return;
    }
    const m = ok.meta;
    if ("error" in m) {
      this.el.append(h("div", { class: "acts-saliency-error", text: m.error }));
      return;
    }
    if ("missing" in m) {
      this.missing(m);
      return;
    }
    this.summary(m);
    this.histogram(ok, m);
    const top = m.top;
    this.el.append(
      h("div", {
        class: "acts-detail-title",
        text: `Top ${top.length} examples of ${layerWord(this.host.model.get("layers_info"), m.layer)} ${m.unit}`,
      }),
    );
    this.el.append(this.rows(ok, top, "top", m.summary.max ?? 1));
    const info = m.bands[m.band];
    if (info && m.band_rows) {
      this.el.append(
        h("div", {
          class: "acts-detail-title",
          text: `Samples from the ${pct(info.lower_q)}–${pct(info.upper_q)} band (${fmt(info.lower ?? Number.NaN)} … ${fmt(info.upper ?? Number.NaN)})`,
        }),
        this.rows(ok, m.band_rows, "band", m.summary.max ?? 1),
      );
    }
  }

  private missing(m: ExamplesMissingMeta): void {
    const live = this.host.live();
    if (m.can_mine) {
      const button = h("button", {
        class: "acts-btn acts-mine",
        type: "button",
        text: `Mine top examples for ${m.layer}`,
      });
      button.disabled = !live;
      button.title = live
        ? "Run the model over the dataset once, keeping each unit's top examples"
        : "Needs a running kernel";
      button.addEventListener("click", () => this.host.send({ type: "mine" }));
      this.el.append(h("div", { class: "acts-hint", text: "No index covers this layer yet." }), button);
    } else {
      this.el.append(
        h("div", {
          class: "acts-hint",
          text: "No index covers this layer: pass Explorer(..., dataset=...) or index=actscope.mine(model, data, layers=[...]).",
        }),
      );
    }
    if (m.mined.length) {
      this.el.append(
        h("div", { class: "acts-hint acts-mined", text: `indexed layers: ${m.mined.join(", ")}` }),
      );
    }
  }

  private summary(m: ExamplesViewMeta): void {
    const s = m.summary;
    const parts = [
      `max ${fmt(s.max ?? Number.NaN)}`,
      `median ${fmt(s.median ?? Number.NaN)}`,
      `active at ${pct(s.active_fraction)} of positions, in ${pct(s.active_example_fraction)} of examples`,
      `${s.n_examples.toLocaleString()} examples`,
    ];
    if (s.nan_examples) parts.push(`${s.nan_examples} with NaN`);
    this.el.append(h("div", { class: "acts-examples-summary", text: parts.join(" · ") }));
  }

  private histogram(d: ExamplesData, m: ExamplesViewMeta): void {
    const edges = d.arrays.get("hist_edges");
    const counts = d.arrays.get("hist_counts");
    const bands = m.bands;
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
      const on = i === m.band;
      const button = h("button", {
        class: `acts-band${on ? " acts-on" : ""}`,
        type: "button",
        "data-band": i,
        text: `${Math.round(100 * b.lower_q)}–${Math.round(100 * b.upper_q)}%`,
        title: `values ${fmt(b.lower ?? Number.NaN)} … ${fmt(b.upper ?? Number.NaN)}; ${b.sampled} sampled examples`,
      });
      button.addEventListener("click", () => this.band(on ? -1 : i));
      strip.append(button);
    });
    box.append(strip);
    this.el.append(box);
  }

  private rows(d: ExamplesData, rows: ExampleRow[], group: string, peak: number): HTMLElement {
    const images = rows.length > 0 && rows.every((r) => r.context === "image");
    const list = h("div", { class: `acts-example-list${images ? " acts-example-grid" : ""}` });
    const dark = this.host.isDark();
    const live = this.host.live();
    rows.forEach((row, n) => {
      const item = h("div", {
        class: "acts-example",
        role: "button",
        "data-id": row.id,
        title: live ? `Open example ${row.id} as an input` : `example ${row.id}`,
      });
      item.append(h("span", { class: "acts-example-value", text: fmt(row.value ?? Number.NaN) }));
      const ctx = d.arrays.get(`${group}${n}`);
      if (row.context === "text" && ctx && row.tokens) item.append(this.text(row, ctx, peak, dark));
      else if (row.context === "image" && ctx instanceof Uint8Array && d.shapes.get(`${group}${n}`)) {
        const [H, W] = d.shapes.get(`${group}${n}`) as number[];
        item.append(this.image(ctx, H as number, W as number, row.box));
      }
      item.append(h("span", { class: "acts-example-id", text: `#${row.id}` }));
      item.addEventListener("click", () => this.open(row.id));
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
        text: readableToken(tok, true),
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
