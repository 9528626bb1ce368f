// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { SequenceView } from "../src/layouts/sequence";
import { context, data } from "./helpers/layouts";

const TOKENS = ["[CLS]", "<img src=x onerror=alert(1)>", "[SEP]"];
// 3 tokens × 2 neurons
const SEQ = () => data("sequence", [3, 2], [1, -4, 2, 0, 3, 8], { tokens: TOKENS });

afterEach(() => document.body.replaceChildren());

describe("SequenceView", () => {
  it("labels the rows with the tokens, as text", () => {
    const view = new SequenceView();
    view.render(SEQ(), context({ word: "neuron" }));
    const labels = Array.from(view.el.querySelectorAll(".acts-seq-label")).map((l) => l.textContent);
    expect(labels).toEqual(TOKENS);
    expect(view.el.querySelector("img")).toBeNull();
    view.render(data("sequence", [2, 2], [1, 2, 3, 4]), context());
    expect(Array.from(view.el.querySelectorAll(".acts-seq-label")).map((l) => l.textContent)).toEqual([
      "pos 0",
      "pos 1",
    ]);
  });

  it("shows byte-level BPE tokens as people read them", () => {
    const view = new SequenceView();
    view.render(data("sequence", [3, 1], [1, 2, 3], { tokens: ["def", "Ġadd", "Ċ"] }), context());
    const labels = Array.from(view.el.querySelectorAll(".acts-seq-label")).map((l) => l.textContent);
    expect(labels).toEqual(["def", "␣add", "⏎"]);
    view.setUnit(0);
    const line = Array.from(view.el.querySelectorAll(".acts-token")).map((t) => t.textContent);
    expect(line).toEqual(["def", " add", "⏎"]);
  });

  it("colours the tokens by the selected neuron, and says when there is none", () => {
    const view = new SequenceView();
    view.render(SEQ(), context({ word: "neuron" }));
    expect(view.el.querySelector(".acts-detail .acts-hint")?.textContent).toMatch(/^Click a neuron/);
    view.setUnit(1);
    const box = view.el.querySelector<HTMLElement>(".acts-token-text") as HTMLElement;
    expect(box.dataset.unit).toBe("1");
    expect(box.querySelector(".acts-detail-title")?.textContent).toBe(
      "Neuron 1 on this input (colour scale: its own peak, 8)",
    );
    const tokens = Array.from(box.querySelectorAll<HTMLElement>(".acts-token"));
    expect(tokens.map((t) => t.textContent)).toEqual(TOKENS);
    expect(tokens.map((t) => t.title)).toEqual(["token 0: -4", "token 1: 0", "token 2: 8"]);
    expect(tokens[2]?.style.background).not.toBe(tokens[1]?.style.background);
    view.setUnit(5);
    expect(view.el.querySelector(".acts-hint")?.textContent).toBe(
      "Neuron 5 is outside the part of the layer shown here.",
    );
  });

  it("says feature, not neuron, for a lens's features", () => {
    const view = new SequenceView();
    view.render(SEQ(), context({ word: "feature" }));
    expect(view.el.querySelector(".acts-hint")?.textContent).toMatch(/^Click a feature \(a column\)/);
    view.setUnit(1);
    expect(view.el.querySelector(".acts-detail-title")?.textContent).toMatch(/^Feature 1 on this input/);
  });

  it("lists the units most active at a clicked token, each selecting its unit", () => {
    const ctx = context({ word: "feature" });
    const view = new SequenceView();
    // 3 tokens × 4 features, sparse: token 1 has features 3 and 0 active.
    view.render(data("sequence", [3, 4], [0, 1, 0, 0, 2, 0, 0, 5, 0, 0, 0, 0], { tokens: TOKENS }), ctx);
    view.el.querySelector<HTMLElement>(".acts-seq-label[data-position='1']")?.click();
    const at = view.el.querySelector(".acts-at") as HTMLElement;
    expect(at.dataset.position).toBe("1");
    expect(at.querySelector(".acts-detail-title")?.textContent).toBe(
      "The features most active at “<img src=x onerror=alert(1)>” (position 1): 2 of 2 active",
    );
    const buttons = Array.from(at.querySelectorAll<HTMLElement>(".acts-at-unit"));
    expect(buttons.map((b) => b.dataset.unit)).toEqual(["3", "0"]);
    expect(at.querySelector("img")).toBeNull();
    buttons[0]?.click();
    expect(ctx.picked).toEqual([3]);
    view.el.querySelector<HTMLElement>(".acts-seq-label[data-position='2']")?.click();
    expect(at.textContent).toBe("No feature is active at “[SEP]” (position 2).");
  });

  it("selects the neuron of the clicked column, in the sorted order", () => {
    const ctx = context({ sort: "max", word: "neuron" });
    const view = new SequenceView();
    view.render(SEQ(), ctx);
    const canvas = view.el.querySelector("canvas") as HTMLCanvasElement;
    canvas.getBoundingClientRect = () => ({ left: 0, top: 0 }) as DOMRect;
    const cw = Number.parseInt(canvas.style.width, 10) / 2;
    canvas.dispatchEvent(new MouseEvent("click", { clientX: 1, clientY: 1 }));
    canvas.dispatchEvent(new MouseEvent("click", { clientX: cw + 1, clientY: 1 }));
    expect(ctx.picked).toEqual([1, 0]); // neuron 1 peaks at 8, neuron 0 at 3
    canvas.dispatchEvent(new MouseEvent("mousemove", { clientX: 1, clientY: 30 }));
    const tip = ctx.tooltip.el.textContent ?? "";
    expect(tip).toContain("neuron 1");
    expect(tip).toContain("token 2 “[SEP]”");
    expect(tip).toContain("value 8");
  });
});
