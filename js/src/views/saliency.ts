// The saliency panel: method and target controls, and the map — over the input image with
// an opacity slider, or as tokens coloured by score. Maps come tagged with what they answer
// (input, method, target), from the `saliency_view` trait or from a snapshot.
import { ColorMap, robustPeak, scaleFor } from "../colormap";
import { clear, fmt, h } from "../dom";
import type { Decoded } from "../wire";
import { cellAt, pixelCanvas } from "./kind";
import type { Tooltip } from "./tooltip";

export interface SaliencyMeta {
  key: string;
  input: number;
  method: string;
  target: string;
  kind?: "image" | "tokens" | "vector";
  tokens?: string[];
  delta?: number | null;
  min?: number;
  max?: number;
  error?: string;
}

export interface SaliencyData {
  meta: SaliencyMeta;
  map: Float32Array;
  shape: number[];
  image: { data: Uint8Array; h: number; w: number } | null;
}

export function saliencyFromDecoded(d: Decoded<SaliencyMeta>): SaliencyData {
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

export const METHODS: [string, string][] = [
  ["", "off"],
  ["gradient", "gradient"],
  ["input_x_gradient", "input × gradient"],
  ["integrated_gradients", "integrated gradients"],
  ["smoothgrad", "SmoothGrad"],
  ["grad_cam", "Grad-CAM"],
];

export interface SaliencySettings {
  method: string;
  target: string;
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

  constructor(
    private onChange: (s: SaliencySettings) => void,
    private tooltip: Tooltip,
    private isDark: () => boolean,
  ) {
    for (const [value, label] of METHODS) this.method.append(h("option", { value, text: label }));
    for (const [value, label] of [
      ["top", "top prediction"],
      ["class", "class / output index…"],
      ["unit", "selected unit"],
    ] as const) {
      this.target.append(h("option", { value, text: label }));
    }
    const emit = (): void => {
      const target =
        this.target.value === "class" ? `class:${Number(this.klass.value) || 0}` : this.target.value;
      this.klass.style.display = this.target.value === "class" ? "inline-block" : "none";
      this.onChange({ method: this.method.value, target });
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
  }

  /** Mirror the traits in the controls. */
  setSettings(s: SaliencySettings, hasImage: boolean): void {
    this.method.value = s.method;
    const isClass = s.target.startsWith("class:");
    this.target.value = isClass ? "class" : s.target;
    if (isClass) this.klass.value = s.target.slice(6);
    this.klass.style.display = isClass ? "inline-block" : "none";
    const on = s.method !== "";
    this.target.disabled = !on;
    this.absolute.style.display = on ? "inline-block" : "none";
    this.opacity.parentElement?.style.setProperty("display", on && hasImage ? "flex" : "none");
    this.el.dataset.method = s.method;
  }

  /** Show `data` when it answers `key`; otherwise a note (computing, or not saved). */
  render(data: SaliencyData | null, key: string, note: string): void {
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
    if (m.error) {
      this.body.append(h("div", { class: "acts-saliency-error", text: m.error }));
      return;
    }
    const values = this.absMode ? data.map.map(Math.abs) : data.map;
    const lo = this.absMode ? 0 : (m.min ?? 0);
    const hi = this.absMode ? Math.max(Math.abs(m.min ?? 0), Math.abs(m.max ?? 0)) : (m.max ?? 0);
    const cmap = new ColorMap(scaleFor(lo, hi, this.isDark(), robustPeak(values, 0.995)));
    const caption = `${METHODS.find(([v]) => v === m.method)?.[1] ?? m.method} of ${m.target}, input ${m.input}${
      m.delta != null ? ` · completeness delta ${fmt(m.delta)}` : ""
    }`;
    this.body.append(h("div", { class: "acts-detail-title", text: caption }));
    if (m.kind === "image" && data.shape.length === 2) this.body.append(this.overlay(data, values, cmap));
    else if (m.kind === "tokens") this.body.append(this.tokens(data, values, cmap));
    else this.body.append(this.strip(values, cmap));
  }

  private overlay(data: SaliencyData, values: Float32Array, cmap: ColorMap): HTMLElement {
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
          `saliency (${data.meta.method})`,
          `y ${y}, x ${x}`,
          `score ${fmt(data.map[y * W + x] as number)}`,
        ]);
      }
    });
    canvas.addEventListener("mouseleave", () => this.tooltip.hide());
    return canvas;
  }

  private tokens(data: SaliencyData, values: Float32Array, cmap: ColorMap): HTMLElement {
    const line = h("div", { class: "acts-token-line acts-saliency-tokens" });
    (data.meta.tokens ?? []).forEach((tok, t) => {
      const v = values[t] as number;
      const span = h("span", {
        class: "acts-token",
        text: tok,
        title: `token ${t}: ${fmt(data.map[t] as number)}`,
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
