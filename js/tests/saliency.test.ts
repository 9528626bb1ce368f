// @vitest-environment happy-dom
// The saliency panel on its own: its controls write the traits, and it shows only the map
// whose key answers them (from the trait or a snapshot), or says why there is none.
import { afterEach, describe, expect, it } from "vitest";
import { Tooltip } from "../src/components/tooltip";
import { METHODS, SaliencyPanel, saliencyTargetKey } from "../src/panels/saliency";
import { StaticModel } from "../src/standalone";
import { saliencyMethodValues } from "../src/traits";
import { errorBlob, saliencyBlob } from "./helpers/encode";
import { traits } from "./helpers/model";

const TOKENS = ["[CLS]", "<b>bold</b>", "[SEP]"];

function mount(extra: Record<string, unknown> = {}, offline = false, languageModel = false) {
  const model = new StaticModel(traits(extra));
  const root = document.createElement("div");
  document.body.append(root);
  let commits = 0;
  const panel = new SaliencyPanel({
    model,
    tooltip: new Tooltip(root),
    on: (event, fn) => model.on(event, fn),
    isDark: () => false,
    offline: () => offline,
    commit: () => {
      commits++;
    },
    languageModel: () => languageModel,
  });
  root.append(panel.el);
  panel.show();
  const el = panel.el;
  const hint = () => el.querySelector(".acts-hint")?.textContent ?? "";
  return { model, el, panel, hint, commits: () => commits };
}

function choose(select: HTMLSelectElement | null, value: string): void {
  if (!select) throw new Error("no select");
  select.value = value;
  select.dispatchEvent(new Event("change"));
}

afterEach(() => document.body.replaceChildren());

describe("saliencyTargetKey", () => {
  it("names the target as Python does", () => {
    expect(saliencyTargetKey({ type: "top" }, "a", 3)).toBe("top");
    expect(saliencyTargetKey({ type: "class", index: 7 }, "a", 3)).toBe("class:7");
    expect(saliencyTargetKey({ type: "class" }, "a", 3)).toBe("class:0");
    expect(saliencyTargetKey({ type: "unit" }, "enc.3", 12)).toBe("unit:enc.3:12");
    expect(saliencyTargetKey({ type: "unit" }, "enc.3", null)).toBe("unit:enc.3:");
    expect(saliencyTargetKey({ type: "token" }, "h.0", 3, 4)).toBe("token:4");
    expect(saliencyTargetKey({ type: "token" }, "h.0", 3, 0)).toBe("token:0");
    expect(saliencyTargetKey({ type: "token" }, "h.0", 3, null)).toBe("token:");
    expect(saliencyTargetKey({ type: "token" }, "h.0", 3)).toBe("token:");
  });

  it("offers every method, off first", () => {
    expect(METHODS.map(([m]) => m)).toEqual(["", ...saliencyMethodValues]);
    expect(METHODS[4]).toEqual(["smoothgrad", "SmoothGrad"]);
  });
});

describe("SaliencyPanel", () => {
  it("writes the method and a structured target, and sends them", () => {
    const { model, el, commits } = mount();
    const [method, target] = Array.from(el.querySelectorAll("select"));
    choose(method ?? null, "integrated_gradients");
    expect(model.get("saliency_method")).toBe("integrated_gradients");
    expect(model.get("saliency_target")).toEqual({ type: "top" });
    expect(el.dataset.method).toBe("integrated_gradients");
    choose(target ?? null, "class");
    const klass = el.querySelector<HTMLInputElement>("input.acts-class") as HTMLInputElement;
    expect(klass.style.display).toBe("inline-block");
    klass.value = "7";
    klass.dispatchEvent(new Event("change"));
    expect(model.get("saliency_target")).toEqual({ type: "class", index: 7 });
    choose(target ?? null, "unit");
    expect(model.get("saliency_target")).toEqual({ type: "unit" });
    expect(klass.style.display).toBe("none");
    choose(method ?? null, "");
    expect(model.get("saliency_method")).toBe("");
    expect(commits()).toBe(5);
  });

  it("mirrors the traits in its controls", () => {
    const { model, el } = mount();
    const target = el.querySelector<HTMLSelectElement>(
      "select[aria-label='Saliency target']",
    ) as HTMLSelectElement;
    expect(target.disabled).toBe(true); // off
    model.set("saliency_method", "gradient");
    model.set("saliency_target", { type: "class", index: 3 });
    expect(target.disabled).toBe(false);
    expect(target.value).toBe("class");
    expect(el.querySelector<HTMLInputElement>("input.acts-class")?.value).toBe("3");
  });

  it("says why there is no map: off, no unit, computing, or not saved", () => {
    const m = mount();
    expect(m.hint()).toMatch(/^Pick a method/);
    m.model.set("saliency_method", "gradient");
    expect(m.hint()).toBe("computing…");
    m.model.set("saliency_target", { type: "unit" });
    expect(m.hint()).toMatch(/^Select a unit/);
    const offline = mount({ saliency_method: "gradient" }, true);
    expect(offline.hint()).toMatch(/not saved with the page/);
    offline.model.set("job", { name: "saliency", state: "running", progress: 0.5, message: "" });
    offline.panel.show();
    expect(offline.hint()).toBe("computing…");
  });

  it("draws a map over the image only when its key answers the traits", () => {
    const { model, el } = mount({ saliency_method: "integrated_gradients" });
    model.set("saliency_view", saliencyBlob("1|integrated_gradients|top", "pixels", [0, 1, 2, 3], [2, 2]));
    expect(el.dataset.key).toBe(""); // it answers input 1; input 0 is selected
    expect(el.querySelector("canvas.acts-saliency-map")).toBeNull();
    model.set(
      "saliency_view",
      saliencyBlob("0|integrated_gradients|top", "pixels", [0, 1, 2, 3], [2, 2], { delta: 0.01 }),
    );
    expect(el.dataset.key).toBe("0|integrated_gradients|top");
    expect(el.querySelectorAll("canvas.acts-saliency-map").length).toBe(1);
    expect(el.querySelector(".acts-detail-title")?.textContent).toBe(
      "integrated gradients of top, input 0 · completeness delta 0.01",
    );
  });

  it("follows the selected unit and shows tokens as text", () => {
    const { model, el, panel } = mount({ saliency_method: "gradient", saliency_target: { type: "unit" } });
    model.set(
      "saliency_view",
      saliencyBlob("0|gradient|unit:a:2", "tokens", [0.1, -1, 2], [3], { tokens: TOKENS }),
    );
    expect(el.dataset.key).toBe(""); // no unit selected yet
    model.set("unit", 2);
    panel.show(); // the explorer does on a unit change
    expect(el.dataset.key).toBe("0|gradient|unit:a:2");
    const tokens = Array.from(el.querySelectorAll(".acts-saliency-tokens .acts-token"));
    expect(tokens.map((t) => t.textContent)).toEqual(TOKENS);
    expect(el.querySelector("b")).toBeNull();
    expect(tokens[0]?.getAttribute("title")).toMatch(/^token 0:/);
  });

  it("toggles signed and absolute scores", () => {
    const { model, el } = mount({ saliency_method: "gradient" });
    model.set("saliency_view", saliencyBlob("0|gradient|top", "values", [-2, 1], [2]));
    const button = Array.from(el.querySelectorAll("button")).find((b) => b.textContent === "signed");
    button?.click();
    expect(button?.textContent).toBe("absolute");
    expect(button?.classList.contains("acts-on")).toBe(true);
    expect(el.querySelector(".acts-saliency-body canvas")).not.toBeNull();
  });

  it("shows an error that answers the traits", () => {
    const { model, el } = mount({ saliency_method: "grad_cam" });
    model.set("saliency_view", errorBlob("0|grad_cam|top", "Grad-CAM needs a spatial layer"));
    expect(el.querySelector(".acts-saliency-error")?.textContent).toBe("Grad-CAM needs a spatial layer");
    expect(el.dataset.key).toBe("0|grad_cam|top");
  });

  it("offers the next token as a target for a language model only", () => {
    const option = (el: HTMLElement) => el.querySelector<HTMLOptionElement>("option[value='token']");
    const classifier = mount({ saliency_method: "gradient" });
    expect(option(classifier.el)?.hidden).toBe(true);
    expect(option(classifier.el)?.disabled).toBe(true);
    const lm = mount({ saliency_method: "gradient" }, false, true);
    expect(option(lm.el)?.hidden).toBe(false);
    expect(option(lm.el)?.textContent).toBe("next token");
    choose(lm.el.querySelector("select[aria-label='Saliency target']"), "token");
    expect(lm.model.get("saliency_target")).toEqual({ type: "token" });
    // a target set from Python is mirrored even before the outputs say it is an LM
    const set = mount({ saliency_method: "gradient", saliency_target: { type: "token" } });
    expect(option(set.el)?.hidden).toBe(false);
    expect(set.el.querySelector<HTMLSelectElement>("select[aria-label='Saliency target']")?.value).toBe(
      "token",
    );
  });

  it("follows the selected position for the next-token target", () => {
    const { model, el, panel } = mount(
      { saliency_method: "gradient", saliency_target: { type: "token" }, position: null },
      false,
      true,
    );
    expect(panel.currentKey()).toBe("0|gradient|token:");
    model.set(
      "saliency_view",
      saliencyBlob("0|gradient|token:2", "tokens", [1, 2, 3], [3], { tokens: TOKENS }),
    );
    expect(el.dataset.key).toBe(""); // the last position is selected, not 2
    model.set("position", 2);
    panel.show(); // the explorer does on a position change
    expect(el.dataset.key).toBe("0|gradient|token:2");
    expect(el.querySelectorAll(".acts-saliency-tokens .acts-token").length).toBe(3);
  });

  it("looks up a snapshot's map when the input changes", () => {
    const { model, el, panel } = mount({ saliency_method: "gradient" }, true);
    panel.loadSnapshot(new Map([["1|gradient|top", saliencyBlob("1|gradient|top", "values", [1, 2], [2])]]));
    model.set("input_index", 1);
    panel.show();
    expect(el.dataset.key).toBe("1|gradient|top");
  });
});
