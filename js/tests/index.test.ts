// @vitest-environment happy-dom
// The anywidget entry point: `render` mounts an explorer and returns its cleanup.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { describe, expect, it } from "vitest";
import widget, { mountStandalone } from "../src/index";
import type { Traits } from "../src/traits";
import { KernelModel, traits } from "./helpers/model";

describe("the widget module", () => {
  it("renders an explorer into the element, says hello, and cleans up", () => {
    const el = document.createElement("div");
    const model = new KernelModel(traits());
    const props = { model: model as unknown as AnyModel<Traits>, el } as unknown as RenderProps<Traits>;
    const cleanup = widget.render(props);
    expect(el.querySelector(".acts-root")).not.toBeNull();
    expect(model.sent).toEqual([{ type: "hello" }]);
    expect(typeof cleanup).toBe("function");
    (cleanup as () => void)();
    expect(el.querySelector(".acts-root")).toBeNull();
    expect(typeof mountStandalone).toBe("function");
  });
});
