// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { Tooltip } from "../src/components/tooltip";

describe("Tooltip", () => {
  it("shows lines of text near the mouse inside the root, and hides", () => {
    const root = document.createElement("div");
    const tip = new Tooltip(root);
    expect(root.contains(tip.el)).toBe(true);
    expect(tip.el.style.display).toBe("none");
    tip.show(new MouseEvent("mousemove", { clientX: 30, clientY: 40 }), ["layer", "<b>unit</b> 3"]);
    expect(tip.el.style.display).toBe("block");
    expect(tip.el.textContent).toBe("layer\n<b>unit</b> 3");
    expect(tip.el.querySelector("b")).toBeNull();
    expect(tip.el.style.top).toBe("54px");
    tip.hide();
    expect(tip.el.style.display).toBe("none");
  });
});
