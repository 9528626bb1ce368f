// The saliency panel (twin of src/actscope/widget/panels/saliency.py): method and target
// controls, and the map — over the input image with an opacity slider, or as tokens coloured
// by score. Maps come tagged with the key of what they answer (input, method, target), from
// the `saliency_view` trait or from a snapshot; only the map answering the traits is shown.
import type { AnyModel } from "@anywidget/types";
import { ColorMap, robustPeak, scaleFor } from "../colormap";
import type { Tooltip } from "../components/tooltip";
import { clear, fmt, h } from "../dom";
import { cellAt, pixelCanvas } from "../layouts/kind";
import { tagOf } from "../snapshot";
import {
  type ErrorMeta,
  type SaliencyMethod,
  type SaliencyTarget,
  type SaliencyViewMeta,
  saliencyKey,
  saliencyLabels,
  saliencyMethodValues,
  type Traits,
} from "../traits";
import { asDataView, type Decoded, decode, readOr } from "../wire";
import { editsTag } from "./edits";
import "./saliency.css";

export interface SaliencyHost {
  model: AnyModel<Traits>;
  tooltip: Tooltip;
  on(event: string, fn: () => void): void;
  isDark(): boolean;
  /** True once it is clear that no kernel will answer (nothing more will arrive). */
  offline(): boolean;
  commit(debounce: boolean): void;
  /** Whether the model predicts next tokens (the target "next token" applies). */
  languageModel?(): boolean;
}

export interface SaliencyData {
  meta: SaliencyViewMeta | ErrorMeta;
  map: Float32Array;
  shape: number[];
  image: { data: Uint8Array; h: number; w: number } | null;
}

export function saliencyFromDecoded(d: Decoded<SaliencyViewMeta | ErrorMeta>): SaliencyData {
  const map = d.arrays.get("map");
  const img = d.arrays.get("image");
  const shape = d.shapes.get("image");
  return {
    meta: d.meta,
    map: map instanceof Float32Array ? map : new Float32Array(map ?? []),
    shape: d.shapes.get("map") ?? [],
    image:
      img instanceof Uint8Array && shape ? { data: img, h: shape[0] as number, w: shape[1] as number } : null,
  };
}

/** What a target answers, in the saliency key (Python's `saliency_target_key`). */
export function saliencyTargetKey(
  target: SaliencyTarget,
  layer: string,
  unit: number | null,
  position: number | null = null,
): string {
  if (target.type === "class") return `class:${target.index ?? 0}`;
  if (target.type === "unit") return `unit:${layer}:${unit === null ? "" : unit}`;
  if (target.type === "token") return `token:${position == null ? "" : position}`;
  return "top";
}

const TARGETS: [SaliencyTarget["type"], string][] = [
  ["top", "top prediction"],
  ["class", "class / output index…"],
  ["unit", "selected unit"],
  ["token", "next token"],
];

export const METHODS: [SaliencyMethod | "", string][] = [
  ["", "off"],
  ...saliencyMethodValues.map((m): [SaliencyMethod, string] => [m, saliencyLabels[m]]),
];

export interface SaliencySettings {
  method: SaliencyMethod | "";
  target: SaliencyTarget;
}

export class SaliencyPanel {
  readonly el = h("div", { class: "acts-saliency" });
  private method = h("select", { class: "acts-select", "aria-label": "Saliency method" });
  private target = h("select", { class: "acts-select", "aria-label": "Saliency target" });
  private klass = h("input", {
    type: "number",
    min: 0,
    value: 0,
    class: "acts-class",
    "aria-label": "Class index",
  });
  private absolute = h("button", { class: "acts-btn", type: "button", text: "signed" });
  private opacity = h("input", { type: "range", min: 0, max: 100, value: 60, "aria-label": "Map opacity" });
  private body = h("div", { class: "acts-saliency-body" });
  private absMode = false;
  private last: SaliencyData | null = null;
  private live: SaliencyData | null = null;
  private snap = new Map<string, SaliencyData>();
  private tooltip: Tooltip;

  constructor(private host: SaliencyHost) {
    this.tooltip = host.tooltip;
    for (const [value, label] of METHODS) this.method.append(h("option", { value, text: label }));
    for (const [value, label] of TARGETS) this.target.append(h("option", { value, text: label }));
    const emit = (): void => {
      const type = TARGETS.find(([v]) => v === this.target.value)?.[0] ?? "top";
      const target: SaliencyTarget =
        type === "class" ? { type, index: Number(this.klass.value) || 0 } : { type };
      this.klass.style.display = type === "class" ? "inline-block" : "none";
      const method = METHODS.find(([v]) => v === this.method.value)?.[0] ?? "";
      host.model.set("saliency_method", method);
      host.model.set("saliency_target", target);
      host.commit(false);
    };
    this.method.addEventListener("change", emit);
    this.target.addEventListener("change", emit);
    this.klass.addEventListener("change", emit);
    this.klass.addEventListener("keydown", (e) => e.stopPropagation());
    this.absolute.addEventListener("click", () => {
      this.absMode = !this.absMode;
      this.absolute.textContent = this.absMode ? "absolute" : "signed";
      this.absolute.classList.toggle("acts-on", this.absMode);
      this.draw();
    });
    this.opacity.addEventListener("input", () => this.draw());
    this.el.append(
      h(
        "div",
        { class: "acts-saliency-head" },
        h("span", { class: "acts-panel-title", text: "Saliency" }),
        this.method,
        h("span", { class: "acts-label", text: "of" }),
        this.target,
        this.klass,
        this.absolute,
        h("label", { class: "acts-slider" }, "opacity ", this.opacity),
      ),
      this.body,
    );
    host.on("change:saliency_method", () => this.show());
    host.on("change:saliency_target", () => this.show());
    host.on("change:saliency_view", () => this.onTrait());
    this.onTrait();
  }

  private onTrait(): void {
    const blob = asDataView(this.host.model.get("saliency_view"));
    this.live = blob
      ? readOr(
          () => saliencyFromDecoded(decode<SaliencyViewMeta | ErrorMeta>(blob)),
          (why) => this.unreadable(why),
        )
      : null;
    this.show();
  }

  /** What answers the current settings when Python's blob cannot be read: an error. */
  private unreadable(reason: string): SaliencyData {
    const error = `The map sent by Python could not be read: ${reason}`;
    return { meta: { key: this.currentKey(), error }, map: new Float32Array(0), shape: [], image: null };
  }

  /** Keep a snapshot's maps, by key (unreadable entries are skipped). */
  loadSnapshot(blobs: Map<string, DataView>): void {
    for (const [k, blob] of blobs) {
      const data = readOr<SaliencyData | null>(
        () => saliencyFromDecoded(decode(blob)),
        () => null,
      );
      if (data) this.snap.set(k, data);
    }
  }

  /** The key of the map the current traits ask for. */
  currentKey(): string {
    const model = this.host.model;
    const target = model.get("saliency_target") ?? { type: "top" };
    const targetKey = saliencyTargetKey(
      target,
      model.get("layer"),
      model.get("unit"),
      model.get("position") ?? null,
    );
    return saliencyKey(model.get("input_index"), model.get("saliency_method") ?? "", targetKey);
  }

  /** What the panel should show for the current traits. */
  show(): void {
    const model = this.host.model;
    const method = model.get("saliency_method") ?? "";
    const target = model.get("saliency_target") ?? { type: "top" };
    const input = model.get("input_index");
    const unit = model.get("unit");
    const info = model.get("inputs_info")?.[input];
    this.setSettings({ method, target }, info?.modality === "image");
    if (!method) {
      this.render(
        null,
        "",
        "Pick a method to see which parts of the input drive the output or the selected unit.",
      );
      return;
    }
    const k = this.currentKey();
    const tag = editsTag(model.get("edits"));
    const answers = (d: SaliencyData | null | undefined): SaliencyData | null =>
      d && d.meta.key === k && tagOf(d) === tag ? d : null;
    const data = answers(this.live) ?? answers(this.snap.get(k));
    let note = "";
    if (!data) {
      const job = model.get("job") ?? {};
      if (target.type === "unit" && unit === null)
        note = "Select a unit (a channel or a neuron) to see what drives it.";
      else if (job.name === "saliency" && job.state === "running") note = "computing…";
      else if (this.host.offline())
        note = "This map was not saved with the page (see ex.snapshot(saliency=...)).";
      else note = "computing…";
    }
    this.render(data, k, note);
  }

  /** Mirror the traits in the controls. */
  private setSettings(s: SaliencySettings, hasImage: boolean): void {
    this.method.value = s.method;
    const isClass = s.target.type === "class";
    this.target.value = s.target.type;
    if (isClass) this.klass.value = String(s.target.index ?? 0);
    this.klass.style.display = isClass ? "inline-block" : "none";
    const on = s.method !== "";
    this.target.disabled = !on;
    // "next token" only for a language model (or while it is the target).
    const lm = s.target.type === "token" || (this.host.languageModel?.() ?? false);
    const token = this.target.querySelector<HTMLOptionElement>("option[value='token']");
    if (token) {
      token.hidden = !lm;
      token.disabled = !lm;
    }
    this.absolute.style.display = on ? "inline-block" : "none";
    this.opacity.parentElement?.style.setProperty("display", on && hasImage ? "flex" : "none");
    this.el.dataset.method = s.method;
  }

  /** Show `data` when it answers `key`; otherwise a note (computing, or not saved). */
  private render(data: SaliencyData | null, key: string, note: string): void {
    if (data && data === this.last && this.el.dataset.key === key) return; // already shown
    this.last = data && data.meta.key === key ? data : null;
    this.el.dataset.key = this.last ? key : "";
    if (!this.last) {
      clear(this.body);
      if (note) this.body.append(h("div", { class: "acts-hint", text: note }));
      return;
    }
    this.draw();
  }

  /** Draw the map shown again (after a theme change). */
  redraw(): void {
    if (this.last) this.draw();
  }

  private draw(): void {
    const data = this.last;
    clear(this.body);
    if (!data) return;
    const m = data.meta;
    if ("error" in m) {
      this.body.append(h("div", { class: "acts-saliency-error", text: m.error }));
      return;
    }
    const values = this.absMode ? data.map.map(Math.abs) : data.map;
    const lo = this.absMode ? 0 : m.min;
    const hi = this.absMode ? Math.max(Math.abs(m.min), Math.abs(m.max)) : m.max;
    const cmap = new ColorMap(scaleFor(lo, hi, this.host.isDark(), robustPeak(values, 0.995)));
    const caption = `${saliencyLabels[m.method] ?? m.method} of ${m.target}, input ${m.input_index}${
      m.delta != null ? ` · completeness delta ${fmt(m.delta)}` : ""
    }`;
    this.body.append(h("div", { class: "acts-detail-title", text: caption }));
    if (m.over === "pixels" && data.shape.length === 2)
      this.body.append(this.overlay(data, m.method, values, cmap));
    else if (m.over === "tokens") this.body.append(this.tokens(m, values, data.map, cmap));
    else this.body.append(this.strip(values, cmap));
  }

  private overlay(data: SaliencyData, method: string, values: Float32Array, cmap: ColorMap): HTMLElement {
    const [H, W] = [data.shape[0] as number, data.shape[1] as number];
    const scale = Math.max(1, Math.floor(240 / Math.max(H, W)));
    const canvas = h("canvas", { class: "acts-big acts-saliency-map", width: W * scale, height: H * scale });
    const g = canvas.getContext("2d");
    const map = pixelCanvas(W, H, (px) => cmap.paint(values, px));
    if (g) {
      if (data.image) {
        const image = data.image;
        const img = pixelCanvas(image.w, image.h, (px) => {
          for (let p = 0; p < px.length; p++) {
            const [r, gg, b] = [
              image.data[p * 3] as number,
              image.data[p * 3 + 1] as number,
              image.data[p * 3 + 2] as number,
            ];
            px[p] = (0xff000000 | (b << 16) | (gg << 8) | r) >>> 0;
          }
        });
        g.imageSmoothingEnabled = false;
        g.drawImage(img, 0, 0, canvas.width, canvas.height);
        g.globalAlpha = Number(this.opacity.value) / 100;
      }
      g.drawImage(map, 0, 0, canvas.width, canvas.height);
      g.globalAlpha = 1;
    }
    canvas.addEventListener("mousemove", (e) => {
      const [y, x] = cellAt(e, canvas, scale, scale);
      if (y >= 0 && y < H && x >= 0 && x < W) {
        this.tooltip.show(e, [
          `saliency (${method})`,
          `y ${y}, x ${x}`,
          `score ${fmt(data.map[y * W + x] as number)}`,
        ]);
      }
    });
    canvas.addEventListener("mouseleave", () => this.tooltip.hide());
    return canvas;
  }

  private tokens(m: SaliencyViewMeta, values: Float32Array, map: Float32Array, cmap: ColorMap): HTMLElement {
    const line = h("div", { class: "acts-token-line acts-saliency-tokens" });
    (m.tokens ?? []).forEach((tok, t) => {
      const v = values[t] as number;
      const span = h("span", {
        class: "acts-token",
        text: tok,
        title: `token ${t}: ${fmt(map[t] as number)}`,
      });
      span.style.background = cmap.css(v);
      span.style.color = cmap.textOn(v);
      line.append(span);
    });
    return line;
  }

  private strip(values: Float32Array, cmap: ColorMap): HTMLElement {
    const canvas = pixelCanvas(values.length, 1, (px) => cmap.paint(values, px));
    canvas.style.width = `${Math.min(600, values.length * 6)}px`;
    canvas.style.height = "16px";
    return canvas;
  }
}
