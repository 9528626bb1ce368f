// The logit effects panel (twin of src/actscope/widget/panels/effects.py): what the selected
// unit writes to the logits through the direct path, the tokens it promotes and those it
// suppresses, beside the unit's dataset examples. Hidden while no unit is selected. Data:
// the `effects_view` trait or a snapshot, each blob tagged with its key (layer, unit).
import type { AnyModel } from "@anywidget/types";
import { ColorMap } from "../colormap";
import { clear, fmt, h, readableToken } from "../dom";
import { layerWord } from "../layouts/kind";
import { PanelBlobs, type PanelData, stateOf } from "../snapshot";
import { type EffectsViewMeta, effectsKey, type Traits } from "../traits";
import { barList, drawOr, noteFor, quietPanel } from "./outputs";
import "./effects.css";

export interface EffectsHost {
  model: AnyModel<Traits>;
  on(event: string, fn: () => void): void;
  isDark(): boolean;
  /** True once it is clear that no kernel will answer (nothing more will arrive). */
  offline(): boolean;
}

type Meta = EffectsViewMeta;

export class EffectsPanel {
  readonly el = h("div", { class: "acts-effects" });
  private blobs = new PanelBlobs<Meta>("logit effects");
  private data: PanelData<Meta> | null = null;

  constructor(private host: EffectsHost) {
    this.blobs.follow(
      host,
      "effects_view",
      () => this.currentKey() ?? "",
      () => this.show(),
    );
  }

  /** Keep a snapshot's effects, by key. */
  loadSnapshot(blobs: Map<string, DataView>): void {
    this.blobs.loadSnapshot(blobs);
  }

  /** The key of the selected unit's effects (null: no unit selected). */
  currentKey(): string | null {
    const unit = this.host.model.get("unit");
    return unit == null ? null : effectsKey(this.host.model.get("layer"), unit);
  }

  show(): void {
    const key = this.currentKey();
    if (key === null || this.host.model.get("effects_view") === undefined) {
      clear(this.el);
      this.data = null;
      this.el.style.display = "none";
      this.el.dataset.effects = "hidden";
      this.el.dataset.key = "";
      return;
    }
    const offline = this.host.offline();
    const data = this.blobs.answer(key, offline);
    const state = stateOf(data, offline);
    this.el.dataset.effects = state;
    this.el.dataset.key = data ? key : "";
    this.data = state === "drawn" ? data : null;
    if (!this.data) {
      quietPanel(this.el, "Logit effects", state, noteFor(state, data, "this unit"));
      return;
    }
    this.draw();
  }

  /** Draw again (the theme changed). */
  redraw(): void {
    if (this.data) this.draw();
  }

  private draw(): void {
    drawOr(this.el, "Logit effects", "effects", () => this.paint());
  }

  private paint(): void {
    const data = this.data;
    if (!data) return;
    const m = data.meta as Meta;
    const column = (ids: string, values: string) => ({
      ids: data.arrays.get(ids) ?? new Int32Array(0),
      values: data.arrays.get(values) ?? new Float32Array(0),
    });
    const promoted = column("promoted", "promoted_values");
    const suppressed = column("suppressed", "suppressed_values");
    let peak = 1e-9;
    for (const v of [...promoted.values, ...suppressed.values])
      if (Number.isFinite(v)) peak = Math.max(peak, Math.abs(v));
    const cmap = new ColorMap({ lo: -peak, hi: peak, signed: true, dark: this.host.isDark() });
    const bars = (c: typeof promoted) =>
      barList(
        Array.from(c.ids, (id, i) => {
          const v = c.values[i] ?? Number.NaN;
          return {
            label: readableToken(m.names[String(id)] ?? String(id)),
            fraction: Math.abs(v) / peak,
            text: fmt(v),
            color: cmap.css(v >= 0 ? peak : -peak),
            title: `token ${id}: ${fmt(v)}`,
          };
        }),
      );
    clear(this.el);
    this.el.classList.remove("acts-quiet");
    this.el.style.display = "";
    this.el.append(
      h(
        "div",
        { class: "acts-effects-top" },
        h("span", {
          class: "acts-panel-title",
          text: `Logit effects of ${layerWord(this.host.model.get("layers_info"), m.layer)} ${m.unit}`,
        }),
        h("span", {
          class: "acts-label",
          text: "what it writes to the logits directly (centred over the vocabulary)",
        }),
      ),
      h(
        "div",
        { class: "acts-effects-cols" },
        h(
          "div",
          { class: "acts-effects-col", "data-side": "promotes" },
          h("div", { class: "acts-detail-title", text: "promotes" }),
          bars(promoted),
        ),
        h(
          "div",
          { class: "acts-effects-col", "data-side": "suppresses" },
          h("div", { class: "acts-detail-title", text: "suppresses" }),
          bars(suppressed),
        ),
      ),
    );
  }
}
