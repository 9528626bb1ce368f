// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { clear, fmt, h, shapeText } from "../src/dom";

describe("h", () => {
  it("sets the class, text and attributes, skipping false and undefined", () => {
    const el = h("button", {
      class: "acts-btn",
      text: "<b>go</b>",
      "data-unit": 3,
      disabled: true,
      hidden: false,
      title: undefined,
    });
    expect(el.className).toBe("acts-btn");
    expect(el.textContent).toBe("<b>go</b>");
    expect(el.querySelector("b")).toBeNull(); // text, never HTML
    expect(el.getAttribute("data-unit")).toBe("3");
    expect(el.getAttribute("disabled")).toBe("");
    expect(el.hasAttribute("hidden")).toBe(false);
    expect(el.hasAttribute("title")).toBe(false);
  });

  it("appends children, strings as text, skipping null", () => {
    const el = h("div", {}, "a <i>b</i>", null, h("span", { text: "c" }), undefined);
    expect(el.childNodes.length).toBe(2);
    expect(el.textContent).toBe("a <i>b</i>c");
    expect(el.querySelector("i")).toBeNull();
    clear(el);
    expect(el.childNodes.length).toBe(0);
  });
});

describe("numbers and shapes for people", () => {
  it("formats to about 4 significant digits, exponents for tiny and huge", () => {
    expect(fmt(12.34567)).toBe("12.35");
    expect(fmt(0)).toBe("0");
    expect(fmt(-0.0001234)).toBe("-1.23e-4");
    expect(fmt(123456)).toBe("1.23e+5");
    expect(fmt(Number.NaN)).toBe("NaN");
    expect(fmt(Number.POSITIVE_INFINITY)).toBe("+Inf");
    expect(fmt(Number.NEGATIVE_INFINITY)).toBe("-Inf");
  });

  it("writes shapes as dims, scalars and unknowns", () => {
    expect(shapeText([1, 64, 7, 7])).toBe("1×64×7×7");
    expect(shapeText([])).toBe("scalar");
    expect(shapeText(null)).toBe("—");
    expect(shapeText(undefined)).toBe("—");
  });
});
