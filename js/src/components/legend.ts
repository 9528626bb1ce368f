// The colour scale of the layer view, with the NaN/Inf counts and the clip toggle.
import { type ColorMap, NAN_RGB, NEG_INF_RGB, POS_INF_RGB } from "../colormap";
import { clear, fmt, h } from "../dom";
import type { ValueSummary } from "../traits";
import "./legend.css";

export class Legend {
  readonly el = h("div", { class: "acts-legend" });

  /** `onClip` toggles between a robust range (clipped at a high quantile) and the full range. */
  constructor(private onClip: (clip: boolean) => void) {}

  render(cmap: ColorMap, meta: ValueSummary, clip: boolean): void {
    clear(this.el);
    const bar = h("canvas", { class: "acts-legend-bar", width: 128, height: 1 });
    const ctx = bar.getContext("2d");
    if (ctx) {
      const img = ctx.createImageData(128, 1);
      const px = new Uint32Array(img.data.buffer);
      for (let i = 0; i < 128; i++) px[i] = cmap.lut[Math.round((i * (cmap.lut.length - 1)) / 127)] as number;
      ctx.putImageData(img, 0, 0);
    }
    this.el.append(
      h("span", { class: "acts-legend-lo", text: fmt(cmap.scale.lo) }),
      bar,
      h("span", { class: "acts-legend-hi", text: fmt(cmap.scale.hi) }),
    );
    const specials: [string, number, number[]][] = [
      ["NaN", meta.nan, NAN_RGB],
      ["+Inf", meta.posinf, POS_INF_RGB],
      ["-Inf", meta.neginf, NEG_INF_RGB],
    ];
    for (const [name, count, rgb] of specials) {
      if (!count) continue;
      this.el.append(
        h(
          "span",
          { class: "acts-legend-special", "data-special": name },
          h("i", { class: "acts-swatch", style: `background: rgb(${rgb.join(",")})` }),
          `${name} ×${count.toLocaleString()}`,
        ),
      );
    }
    this.el.append(
      h("span", { class: "acts-legend-range", text: `range ${fmt(meta.min)} … ${fmt(meta.max)}` }),
    );
    const saturated =
      Math.max(Math.abs(meta.min), Math.abs(meta.max)) > Math.max(-cmap.scale.lo, cmap.scale.hi);
    const button = h("button", {
      class: `acts-btn acts-clip${clip ? " acts-on" : ""}`,
      type: "button",
      text: clip ? "clipped at p99.9" : "full range",
      title: clip
        ? "Colours span the 99.9th percentile of |values|; larger values saturate. Click for the full range."
        : "Colours span the full range. Click to clip at the 99.9th percentile, so outliers do not wash out the rest.",
      "data-clip": String(clip),
      "data-saturated": String(clip && saturated),
    });
    button.addEventListener("click", () => this.onClip(!clip));
    this.el.append(button);
  }
}
