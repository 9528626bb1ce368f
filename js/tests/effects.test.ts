// @vitest-environment happy-dom
// The logit effects panel on its own: hidden without a unit, the selected unit's promoted and
// suppressed tokens, and why it has nothing to draw.
import { afterEach, describe, expect, it } from "vitest";
import { EffectsPanel } from "../src/panels/effects";
import { effectsBlob, GARBAGE, panelHost, unavailableBlob } from "./helpers/panels";

const NAMES = { 5: "Ġcat", 6: "Ċ", 7: "Ġdog", 8: "<script>" };
const UNIT2 = effectsBlob(
  "a",
  2,
  [
    [5, 2],
    [6, 1],
  ],
  [
    [7, -4],
    [8, -0.5],
  ],
  NAMES,
);

function mount(extra: Record<string, unknown> = {}, offline = false) {
  const m = panelHost(extra, offline);
  const panel = new EffectsPanel(m.host);
  m.root.append(panel.el);
  const el = panel.el;
  const col = (side: string, sel: string) =>
    Array.from(el.querySelectorAll(`[data-side='${side}'] ${sel}`)).map((e) => e.textContent);
  return { ...m, panel, el, col };
}

afterEach(() => document.body.replaceChildren());

describe("EffectsPanel", () => {
  it("is hidden while no unit is selected", () => {
    const { el } = mount({ effects_view: UNIT2 });
    expect(el.style.display).toBe("none");
    expect(el.dataset.effects).toBe("hidden");
    expect(el.childElementCount).toBe(0);
  });

  it("draws the selected unit's promoted and suppressed tokens as bars", () => {
    const { model, el, panel, col, state } = mount({ effects_view: UNIT2 });
    model.set("unit", 2);
    panel.show(); // the explorer does on a unit change
    expect(el.style.display).toBe("");
    expect(el.dataset.effects).toBe("drawn");
    expect(el.dataset.key).toBe("a|2");
    expect(el.querySelector(".acts-panel-title")?.textContent).toBe("Logit effects of neuron 2");
    expect(col("promotes", ".acts-barlist-name")).toEqual(["␣cat", "⏎"]);
    expect(col("suppresses", ".acts-barlist-name")).toEqual(["␣dog", "<script>"]);
    expect(el.querySelector("script")).toBeNull();
    expect(col("promotes", ".acts-barlist-value")).toEqual(["2", "1"]);
    expect(col("suppresses", ".acts-barlist-value")).toEqual(["-4", "-0.5"]);
    const fills = Array.from(el.querySelectorAll<HTMLElement>(".acts-barlist-fill"));
    expect(fills.map((f) => f.style.width)).toEqual(["50%", "25%", "100%", "12.5%"]);
    const [pos, , neg] = fills.map((f) => f.style.background);
    expect(pos).not.toBe(neg); // one colour a side
    state.dark = true;
    panel.redraw();
    const darkPos = el.querySelector<HTMLElement>(".acts-barlist-fill")?.style.background;
    expect(darkPos).not.toBe(pos); // the colours follow the theme
  });

  it("ignores the effects of another unit", () => {
    const { model, el, panel } = mount({ effects_view: UNIT2, unit: 3 });
    panel.show();
    expect(el.dataset.effects).toBe("loading");
    expect(el.querySelector(".acts-hint")?.textContent).toBe("computing…");
    model.set("layer", "b");
    model.set("unit", 2); // unit 2 of another layer
    panel.show();
    expect(el.dataset.effects).toBe("loading");
  });

  it("says quietly when the model has no logits to write to", () => {
    const { model, el } = mount({ unit: 1 });
    model.set("effects_view", unavailableBlob("a|1", "Logit effects need a language model."));
    expect(el.dataset.effects).toBe("unavailable");
    expect(el.textContent).toBe("Logit effectsLogit effects need a language model.");
  });

  it("shows an unreadable blob as an error in place, and draws the next good one", () => {
    const { model, el } = mount({ unit: 2 });
    model.set("effects_view", GARBAGE);
    expect(el.dataset.effects).toBe("error");
    expect(el.querySelector(".acts-saliency-error")?.textContent).toMatch(
      /^The logit effects sent by Python/,
    );
    model.set("effects_view", UNIT2);
    expect(el.dataset.effects).toBe("drawn");
  });

  it("draws a snapshot's effects offline and says which were not saved", () => {
    const { model, el, panel } = mount({ unit: 2 }, true);
    panel.loadSnapshot(new Map([["a|2", UNIT2]]));
    panel.show();
    expect(el.dataset.effects).toBe("drawn");
    model.set("unit", 4);
    panel.show();
    expect(el.dataset.effects).toBe("missing");
    expect(el.querySelector(".acts-hint")?.textContent).toBe(
      "not saved in this snapshot: re-run the notebook, or include this unit in ex.snapshot(...)",
    );
  });
});
