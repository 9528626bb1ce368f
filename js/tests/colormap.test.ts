// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { ColorMap, isDark, NAN_RGB, POS_INF_RGB, robustPeak, scaleFor, watchTheme } from "../src/colormap";

const rgb = (c: number): number[] => [c & 255, (c >>> 8) & 255, (c >>> 16) & 255];

describe("colour scales", () => {
  it("is symmetric for signed data and sequential from zero otherwise", () => {
    expect(scaleFor(-2, 5, false)).toEqual({ lo: -5, hi: 5, signed: true, dark: false });
    expect(scaleFor(-3, -1, false)).toEqual({ lo: -3, hi: 3, signed: true, dark: false });
    expect(scaleFor(0.5, 4, true)).toEqual({ lo: 0, hi: 4, signed: false, dark: true });
    expect(scaleFor(0, 0, false).hi).toBe(1);
  });

  it("maps zero to the background of a diverging scale", () => {
    const light = new ColorMap(scaleFor(-1, 1, false));
    expect(rgb(light.color(0))).toEqual([255, 255, 255]);
    const dark = new ColorMap(scaleFor(-1, 1, true));
    expect(rgb(dark.color(0))).toEqual([20, 20, 20]);
  });

  it("gives NaN and Inf their own colours and paints in a given order", () => {
    const cmap = new ColorMap(scaleFor(0, 10, false));
    const out = new Uint32Array(3);
    cmap.paint([Number.NaN, 10, Number.POSITIVE_INFINITY], out, [2, 0, 1]);
    expect(rgb(out[0] as number)).toEqual(POS_INF_RGB);
    expect(rgb(out[1] as number)).toEqual(NAN_RGB);
    expect(out[2]).toBe(cmap.lut[cmap.lut.length - 1]);
    expect((out[0] as number) >>> 24).toBe(255);
  });

  it("clamps values outside the range", () => {
    const cmap = new ColorMap(scaleFor(0, 1, false));
    expect(cmap.color(-5)).toBe(cmap.lut[0]);
    expect(cmap.color(99)).toBe(cmap.lut[cmap.lut.length - 1]);
    expect(cmap.textOn(1)).toBe("#fff");
    expect(cmap.textOn(0)).toBe("#111");
  });
});

describe("robust ranges", () => {
  it("treats a small negative tail as noise and clips outliers", () => {
    expect(scaleFor(-0.17, 13.6, false).signed).toBe(false);
    const values = new Float32Array(10_000).fill(1);
    values[5] = 500;
    const peak = robustPeak(values);
    expect(peak).toBe(1);
    expect(scaleFor(0, 500, false, peak).hi).toBe(1);
    expect(scaleFor(-4, 5, false, 2)).toEqual({ lo: -2, hi: 2, signed: true, dark: false });
    expect(robustPeak([Number.NaN, Number.POSITIVE_INFINITY])).toBe(0);
  });
});

describe("theme detection", () => {
  it("finds the first opaque background up the tree and judges its brightness", () => {
    const outer = document.createElement("div");
    const inner = document.createElement("div");
    outer.append(inner);
    document.body.append(outer);
    expect(isDark(inner)).toBe(false); // nothing opaque: light
    outer.style.backgroundColor = "rgb(30, 30, 30)";
    expect(isDark(inner)).toBe(true);
    inner.style.backgroundColor = "rgba(255, 255, 255, 0.2)"; // too transparent to count
    expect(isDark(inner)).toBe(true);
    inner.style.backgroundColor = "rgb(250, 250, 250)";
    expect(isDark(inner)).toBe(false);
    outer.remove();
  });
});

describe("theme watching", () => {
  it("calls back when the page turns dark or light, and stops when asked", async () => {
    const el = document.createElement("div");
    document.body.append(el);
    const seen: boolean[] = [];
    const stop = watchTheme(el, (dark) => seen.push(dark));
    document.body.className = "a"; // no change of background: no call
    await new Promise((r) => setTimeout(r, 0));
    document.body.style.backgroundColor = "rgb(0, 0, 0)";
    document.body.className = "jp-theme-dark";
    await new Promise((r) => setTimeout(r, 0));
    expect(seen).toEqual([true]);
    stop();
    document.body.removeAttribute("style");
    document.body.className = "";
    await new Promise((r) => setTimeout(r, 0));
    expect(seen).toEqual([true]);
    el.remove();
  });
});
