// The patching panel (twin of src/actscope/widget/panels/patching.py): pick a clean and a
// corrupted input and run an activation-patching sweep (Python runs it as a job, with
// progress and Cancel); the result is a layers × positions grid, each cell the fraction of
// the clean run's metric that patching the clean activation there restores. A click on a
// cell opens that layer and position. Data: the `patching_view` trait (saved with the page).
import type { AnyModel } from "@anywidget/types";
import { ColorMap } from "../colormap";
import type { Tooltip } from "../components/tooltip";
import { clear, fmt, h, readableToken } from "../dom";
import type { PatchingViewMeta, PatchMetric, Request, Traits } from "../traits";
import { asDataView, type Decoded, decode, readOr } from "../wire";
import { drawOr } from "./outputs";
import "../components/grid.css";
import "./patching.css";

export interface PatchingHost {
  model: AnyModel<Traits>;
  tooltip: Tooltip;
  on(event: string, fn: () => void): void;
  isDark(): boolean;
  live(): boolean;
  commit(debounce: boolean): void;
  send(msg: Request): boolean;
}

type Data = Decoded<PatchingViewMeta>;

const METRICS: [PatchMetric, string][] = [
  ["top_logprob", "log p(clean top)"],
  ["logit_diff", "logit diff (clean top − corrupted top)"],
];

/** The fraction of the clean metric a patched run restores (NaN stays NaN). */
export function restored(v: number, clean: number, corrupted: number): number {
  const span = clean - corrupted;
  return Math.abs(span) > 1e-9 ? (v - corrupted) / span : v;
}

export class PatchingPanel {
  readonly el = h("div", { class: "acts-patching" });
  private data: Data | null = null;
  private error = "";
  private clean = 0;
  private corrupted = 1;
  private metric: PatchMetric = "top_logprob";

  constructor(private host: PatchingHost) {
    host.on("change:patching_view", () => this.onTrait());
    host.on("change:inputs_info", () => this.show());
    this.onTrait();
  }

  private onTrait(): void {
    const blob = asDataView(this.host.model.get("patching_view"));
    this.error = "";
    this.data = blob
      ? readOr<Data | null>(
          () => decode<PatchingViewMeta>(blob),
          (why) => {
            this.error = `The sweep sent by Python could not be read: ${why}`;
            return null;
          },
        )
      : null;
    if (this.data) [this.clean, this.corrupted] = [this.data.meta.clean, this.data.meta.corrupted];
    this.show();
  }

  show(): void {
    const model = this.host.model;
    if (model.get("patching_view") === undefined) {
      this.el.style.display = "none"; // saved by a version with no patching panel
      return;
    }
    const n = (model.get("inputs_info") ?? []).length;
    this.el.style.display = n < 2 && !this.data ? "none" : "";
    this.el.dataset.patching = this.data ? "drawn" : this.error ? "error" : "empty";
    drawOr(this.el, "Activation patching", "patching", () => this.paint());
  }

  /** Draw again (the theme changed). */
  redraw(): void {
    this.show();
  }

  private paint(): void {
    clear(this.el);
    this.el.append(this.controls());
    if (this.error) this.el.append(h("div", { class: "acts-saliency-error", text: this.error }));
    if (this.data) this.el.append(this.grid(this.data));
  }

  private controls(): HTMLElement {
    const inputs = this.host.model.get("inputs_info") ?? [];
    const pick = (value: number, set: (v: number) => void, label: string): HTMLSelectElement => {
      const select = h("select", { class: "acts-patching-pick", "aria-label": label });
      inputs.forEach((info, i) => {
        select.append(
          h("option", { value: String(i), text: `${i}: ${(info.text ?? info.label).slice(0, 40)}` }),
        );
      });
      select.value = String(value);
      select.addEventListener("change", () => set(Number(select.value)));
      return select;
    };
    const run = h("button", { class: "acts-btn", type: "button", "data-action": "patch", text: "run" });
    const live = this.host.live();
    run.disabled = !live;
    run.title = live
      ? "patch the clean input's activations into the corrupted one, one layer and position at a time"
      : "a sweep needs a running kernel (ex.patch(clean, corrupted) in Python)";
    run.addEventListener("click", () =>
      this.host.send({ type: "patch", clean: this.clean, corrupted: this.corrupted, metric: this.metric }),
    );
    const metric = h("select", { class: "acts-patching-metric", "aria-label": "metric" });
    for (const [value, text] of METRICS) metric.append(h("option", { value, text }));
    metric.value = this.metric;
    metric.addEventListener("change", () => {
      this.metric = metric.value as PatchMetric;
    });
    return h(
      "div",
      { class: "acts-patching-top" },
      h("span", { class: "acts-panel-title", text: "Activation patching" }),
      h("span", { class: "acts-label", text: "clean" }),
      pick(this.clean, (v) => (this.clean = v), "clean input"),
      h("span", { class: "acts-label", text: "into corrupted" }),
      pick(this.corrupted, (v) => (this.corrupted = v), "corrupted input"),
      h("span", { class: "acts-label", text: "metric" }),
      metric,
      run,
    );
  }

  private grid(data: Data): HTMLElement {
    const m = data.meta;
    const [L, T] = data.shapes.get("values") ?? [m.layers.length, 0];
    const values = data.arrays.get("values") ?? new Float32Array(0);
    const cmap = new ColorMap({ lo: -1, hi: 1, signed: true, dark: this.host.isDark() });
    const head = h(
      "tr",
      {},
      h("th", { class: "acts-patching-corner acts-grid-corner", text: `${m.site} of \\ token` }),
    );
    for (let t = 0; t < (T ?? 0); t++) {
      head.append(
        h("th", { class: "acts-patching-col acts-grid-col", text: readableToken(m.tokens?.[t] ?? `p${t}`) }),
      );
    }
    const body = h("tbody");
    for (let l = 0; l < (L ?? 0); l++) {
      const row = h(
        "tr",
        {},
        h("th", {
          class: "acts-patching-layer acts-grid-layer",
          text: m.layers[l] ?? "",
          title: m.layers[l],
        }),
      );
      for (let t = 0; t < (T ?? 0); t++) {
        const v = values[l * (T ?? 0) + t] ?? Number.NaN;
        const r = restored(v, m.clean_value, m.corrupted_value);
        const text = Number.isFinite(r) ? (Math.abs(r) < 100 ? r.toFixed(2) : fmt(r)) : "";
        const cell = h("td", { class: "acts-patching-cell", "data-layer": l, "data-position": t, text });
        if (Number.isFinite(r)) {
          const c = Math.max(-1, Math.min(1, r));
          cell.style.background = cmap.css(c);
          cell.style.color = cmap.textOn(c);
        }
        cell.addEventListener("mousemove", (e) =>
          this.host.tooltip.show(e, [
            `${m.layers[l]} · position ${t} “${readableToken(m.tokens?.[t] ?? "")}”`,
            `${m.metric}: ${fmt(v)} (clean ${fmt(m.clean_value)}, corrupted ${fmt(m.corrupted_value)})`,
            `restores ${Number.isFinite(r) ? `${(100 * r).toFixed(1)}%` : "—"} of the clean run's`,
          ]),
        );
        cell.addEventListener("mouseleave", () => this.host.tooltip.hide());
        cell.addEventListener("click", () => this.open(m.layers[l], t));
        row.append(cell);
      }
      body.append(row);
    }
    return h(
      "div",
      { class: "acts-patching-body" },
      h("div", {
        class: "acts-hint",
        text: `input ${m.clean} patched into input ${m.corrupted}: each cell the share of the clean run's ${m.metric} restored (1 = all, 0 = none)`,
      }),
      h(
        "div",
        { class: "acts-patching-scroll acts-grid-scroll", "data-scroll": "grid" },
        h("table", { class: "acts-patching-grid acts-grid" }, h("thead", {}, head), body),
      ),
    );
  }

  private open(layer: string | undefined, position: number): void {
    const model = this.host.model;
    if (layer && (model.get("layers_info") ?? []).some((l) => l.name === layer)) {
      model.set("layer", layer);
      model.set("unit", null);
    }
    model.set("input_index", this.data?.meta.corrupted ?? model.get("input_index"));
    model.set("position", position);
    this.host.commit(false);
  }
}
