// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { capital, cellAt, pixelCanvas, unitWord } from "../src/layouts/kind";

describe("pixel canvases", () => {
  it("is at least one pixel, and fills every pixel when it can draw", () => {
    let filled = -1;
    const canvas = pixelCanvas(4, 3, (px) => {
      filled = px.length;
    });
    expect([canvas.width, canvas.height, canvas.className]).toEqual([4, 3, "acts-pixels"]);
    if (canvas.getContext("2d")) expect(filled).toBe(12);
    const empty = pixelCanvas(
      0,
      0,
      () => {
        throw new Error("nothing to fill");
      },
      "acts-big",
    );
    expect([empty.width, empty.height, empty.className]).toEqual([1, 1, "acts-big"]);
  });

  it("finds the cell (row, column) under the mouse", () => {
    const canvas = document.createElement("canvas");
    canvas.getBoundingClientRect = () => ({ left: 100, top: 50 }) as DOMRect;
    const at = (x: number, y: number) =>
      cellAt(new MouseEvent("click", { clientX: x, clientY: y }), canvas, 4, 14);
    expect(at(100, 50)).toEqual([0, 0]);
    expect(at(111, 77)).toEqual([1, 2]);
    expect(at(99, 49)).toEqual([-1, -1]);
  });
});

describe("what a unit is called", () => {
  it("calls a lens's units features, and others by their view kind", () => {
    expect(unitWord({ features_of: "encoder.layer.3.output", kind: "sequence" })).toBe("feature");
    expect(unitWord({ features_of: "", kind: "sequence" })).toBe("neuron");
    expect(unitWord({ features_of: "", kind: "spatial" })).toBe("channel");
    expect(unitWord({ features_of: "", kind: "vector" })).toBe("unit");
    expect(unitWord(undefined)).toBe("unit");
    expect(capital("feature")).toBe("Feature");
  });
});
