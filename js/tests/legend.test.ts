// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { ColorMap, scaleFor } from "../src/colormap";
import { Legend } from "../src/components/legend";

const summary = (
  fields: Partial<{ nan: number; posinf: number; neginf: number; min: number; max: number }> = {},
) => ({
  nan: 0,
  posinf: 0,
  neginf: 0,
  min: -2,
  max: 8,
  ...fields,
});

describe("Legend", () => {
  it("shows the scale's ends, the range and counts of NaN and ±Inf", () => {
    const legend = new Legend(() => {});
    legend.render(new ColorMap(scaleFor(-2, 8, false)), summary({ nan: 1200, neginf: 3 }), false);
    expect(legend.el.querySelector(".acts-legend-lo")?.textContent).toBe("-8");
    expect(legend.el.querySelector(".acts-legend-hi")?.textContent).toBe("8");
    expect(legend.el.querySelector(".acts-legend-range")?.textContent).toBe("range -2 … 8");
    const specials = Array.from(legend.el.querySelectorAll<HTMLElement>(".acts-legend-special"));
    expect(specials.map((s) => s.dataset.special)).toEqual(["NaN", "-Inf"]);
    expect(specials[0]?.textContent).toBe(`NaN ×${(1200).toLocaleString()}`);
  });

  it("toggles clipping, and says when values saturate", () => {
    const clips: boolean[] = [];
    const legend = new Legend((c) => clips.push(c));
    legend.render(new ColorMap(scaleFor(0, 100, false, 5)), summary({ min: 0, max: 100 }), true);
    const button = legend.el.querySelector<HTMLElement>(".acts-clip") as HTMLElement;
    expect(button.textContent).toBe("clipped at p99.9");
    expect(button.dataset.saturated).toBe("true");
    button.click();
    expect(clips).toEqual([false]);
    legend.render(new ColorMap(scaleFor(0, 100, false)), summary({ min: 0, max: 100 }), false);
    expect(legend.el.querySelector<HTMLElement>(".acts-clip")?.dataset.saturated).toBe("false");
    expect(legend.el.querySelectorAll(".acts-clip").length).toBe(1); // drawn afresh
  });
});
