// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { SpatialView } from "../src/layouts/spatial";
import { context, data } from "./helpers/layouts";

afterEach(() => document.body.replaceChildren());

const units = (view: SpatialView): string[] =>
  Array.from(view.el.querySelectorAll<HTMLElement>(".acts-tile")).map((t) => t.dataset.unit ?? "");

describe("SpatialView", () => {
  it("draws a tile per channel with its max, sorted on request", () => {
    const view = new SpatialView();
    const d = data("spatial", [3, 1, 2], [0, 1, 5, 2, -1, 9]);
    view.render(d, context());
    expect(units(view)).toEqual(["0", "1", "2"]);
    expect(view.el.querySelector(".acts-tile-caption")?.textContent).toBe("0 · 1");
    view.render(d, context({ sort: "max" }));
    expect(units(view)).toEqual(["2", "1", "0"]);
  });

  it("pages through many channels", () => {
    const view = new SpatialView();
    view.render(data("spatial", [200, 1, 1], new Array(200).fill(1)), context());
    expect(units(view).length).toBe(192);
    const more = view.el.querySelector<HTMLElement>(".acts-more") as HTMLElement;
    expect(more.textContent).toBe("Show 8 more of 8 channels");
    more.click();
    expect(units(view).length).toBe(200);
    expect(more.style.display).toBe("none");
  });

  it("selects a channel on click and shows it large, with its figures", () => {
    const ctx = context();
    const view = new SpatialView();
    view.render(data("spatial", [2, 2, 2], [0, 1, 2, 3, 4, 9, 6, 7]), ctx);
    view.el.querySelector<HTMLElement>(".acts-tile[data-unit='1']")?.click();
    expect(ctx.picked).toEqual([1]);
    view.setUnit(1);
    expect(view.el.querySelector(".acts-tile.acts-selected")?.getAttribute("data-unit")).toBe("1");
    expect(view.el.querySelector("canvas.acts-big")?.getAttribute("data-unit")).toBe("1");
    expect(view.el.querySelector(".acts-detail-title")?.textContent).toBe(
      "Channel 1: max 9 at y 0, x 1; mean 6.5",
    );
    expect(view.el.querySelector(".acts-opacity")).toBeNull(); // no input image to lay it over
    view.setUnit(7);
    expect(view.el.querySelector(".acts-hint")?.textContent).toBe(
      "Channel 7 is outside the part of the layer shown here.",
    );
  });

  it("offers an opacity slider over the input image", () => {
    const view = new SpatialView();
    const d = data("spatial", [1, 2, 2], [1, 2, 3, 4]);
    view.render(d, context({ unit: 0 }));
    expect(view.el.querySelector(".acts-opacity")).toBeNull();
    d.image = { data: new Uint8Array(12).fill(200), h: 2, w: 2 };
    view.render(d, context({ unit: 0 }));
    expect(view.el.querySelector(".acts-opacity")).not.toBeNull();
  });
});
