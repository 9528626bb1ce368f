// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { InputStrip, rgbCanvas } from "../src/components/inputs";
import type { InputInfo } from "../src/traits";
import { encodeBlob } from "./helpers/encode";

const texts = (n: number): InputInfo[] =>
  Array.from({ length: n }, (_, i) => ({ modality: "text", label: `#${i}`, text: `text ${i}` }));

const shown = (strip: InputStrip): string[] =>
  Array.from(strip.el.querySelectorAll<HTMLElement>(".acts-input")).map((e) => e.dataset.index ?? "");

describe("InputStrip", () => {
  it("shows a window of inputs around the current one, and the count", () => {
    const strip = new InputStrip(() => {});
    strip.setInputs(texts(30), null, 20);
    expect(shown(strip)).toEqual(Array.from({ length: 12 }, (_, i) => String(14 + i)));
    expect(strip.el.querySelector(".acts-count")?.textContent).toBe("21 / 30");
    expect(strip.el.querySelector(".acts-input.acts-selected")?.getAttribute("data-index")).toBe("20");
    strip.select(29);
    expect(shown(strip)[11]).toBe("29");
    expect(shown(strip)[0]).toBe("18");
  });

  it("selects by click and with the arrows, disabled at either end", () => {
    const picked: number[] = [];
    const strip = new InputStrip((i) => picked.push(i));
    strip.setInputs(texts(3), null, 0);
    const [prev, next] = Array.from(strip.el.querySelectorAll<HTMLButtonElement>("button"));
    expect(prev?.disabled).toBe(true);
    expect(next?.disabled).toBe(false);
    next?.click();
    strip.el.querySelector<HTMLElement>(".acts-input[data-index='2'] .acts-input-label")?.click();
    strip.select(2);
    expect(next?.disabled).toBe(true);
    prev?.click();
    expect(picked).toEqual([1, 2, 1]);
  });

  it("shows text snippets and labels as text, and image thumbnails as canvases", () => {
    const strip = new InputStrip(() => {});
    strip.setInputs([{ modality: "text", label: "<b>x</b>", text: "<script>alert(1)</script>" }], null, 0);
    expect(strip.el.querySelector(".acts-snippet")?.textContent).toBe("<script>alert(1)</script>");
    expect(strip.el.querySelector(".acts-input-label")?.textContent).toBe("<b>x</b>");
    expect(strip.el.querySelector("script, b")).toBeNull();
    const thumbs = encodeBlob(
      { count: 1, total: 1 },
      { t0: { data: new Array(12).fill(7), shape: [2, 2, 3], dtype: "u8raw" } },
    );
    strip.setInputs([{ modality: "image", label: "cat", shape: [3, 2, 2] }], thumbs, 0);
    const canvas = strip.el.querySelector<HTMLCanvasElement>("canvas.acts-thumb");
    expect(canvas?.width).toBe(2);
    expect(strip.el.querySelector(".acts-input")?.getAttribute("title")).toBe("cat (3×2×2)");
  });

  it("draws RGB images on a canvas of their size", () => {
    const canvas = rgbCanvas(new Uint8Array(3 * 4 * 3), 3, 4, "acts-thumb x");
    expect([canvas.width, canvas.height, canvas.className]).toEqual([4, 3, "acts-thumb x"]);
  });
});
