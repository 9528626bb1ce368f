// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { VectorView } from "../src/layouts/vector";
import { context, data } from "./helpers/layouts";

afterEach(() => document.body.replaceChildren());

describe("VectorView", () => {
  it("draws bars for a few units, signed around the middle, sorted on request", () => {
    const ctx = context();
    const view = new VectorView();
    const d = data("vector", [3], [2, -4, 1]);
    view.render(d, ctx);
    const rows = () => Array.from(view.el.querySelectorAll<HTMLElement>(".acts-bar-row"));
    expect(rows().map((r) => r.dataset.unit)).toEqual(["0", "1", "2"]);
    expect(rows().map((r) => r.querySelector(".acts-bar-value")?.textContent)).toEqual(["2", "-4", "1"]);
    const bar = rows()[1]?.querySelector<HTMLElement>(".acts-bar") as HTMLElement;
    expect(bar.style.width).toBe("50%");
    expect(bar.style.marginLeft).toBe("0%");
    rows()[2]?.click();
    expect(ctx.picked).toEqual([2]);
    view.setUnit(2);
    expect(view.el.querySelector(".acts-bar-row.acts-selected")?.getAttribute("data-unit")).toBe("2");
    expect(view.el.querySelector(".acts-detail-title")?.textContent).toBe("Unit 2: 1 (rank 2 of 3)");
    view.render(d, context({ sort: "max" }));
    expect(rows().map((r) => r.dataset.unit)).toEqual(["0", "2", "1"]);
  });

  it("draws a strip of cells for many units, and picks the unit under the mouse", () => {
    const ctx = context({ width: 124 });
    const view = new VectorView();
    const values = Array.from({ length: 100 }, (_, i) => i);
    view.render(data("vector", [100], values), ctx);
    expect(view.el.querySelector(".acts-bar-row")).toBeNull();
    const canvas = view.el.querySelector(".acts-strip canvas") as HTMLCanvasElement;
    expect([canvas.width, canvas.height]).toEqual([10, 10]); // 10 cells of 10 px in 100 px
    canvas.getBoundingClientRect = () => ({ left: 0, top: 0 }) as DOMRect;
    canvas.dispatchEvent(new MouseEvent("click", { clientX: 25, clientY: 15 }));
    expect(ctx.picked).toEqual([12]);
    view.setUnit(150);
    expect(view.el.querySelector(".acts-hint")?.textContent).toBe("Unit 150 is outside the part shown.");
    view.setUnit(99);
    expect(view.el.querySelector<HTMLElement>(".acts-cell-mark")?.style.display).toBe("block");
  });
});
