// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { mountStandalone, StaticModel } from "../src/standalone";
import { viewBlob } from "./helpers/encode";
import { traits } from "./helpers/model";

const base64 = (view: DataView): string =>
  Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString("base64");

afterEach(() => document.body.replaceChildren());

describe("StaticModel", () => {
  it("holds the saved traits, bytes decoded from base64", () => {
    const model = new StaticModel({ layer: "a", thumbs: { $b64: "AQID" } });
    expect(model.get("layer")).toBe("a");
    const thumbs = model.get("thumbs");
    expect(thumbs).toBeInstanceOf(DataView);
    expect(Array.from(new Uint8Array((thumbs as DataView).buffer))).toEqual([1, 2, 3]);
  });

  it("tells listeners of changes, once per new value, until they leave", () => {
    const model = new StaticModel({ unit: null });
    const seen: unknown[] = [];
    const fn = () => seen.push(model.get("unit"));
    model.on("change:unit", fn);
    model.set("unit", 3);
    model.set("unit", 3);
    model.off("change:unit", fn);
    model.set("unit", 4);
    expect(seen).toEqual([3]);
    model.on("change:unit", fn);
    model.off();
    model.set("unit", 5);
    expect(seen).toEqual([3]);
  });

  it("has no kernel to send to", () => {
    const model = new StaticModel({});
    expect(() => model.send()).toThrow(/no kernel/);
    expect(() => model.save_changes()).not.toThrow();
  });
});

describe("mountStandalone", () => {
  it("renders saved traits with no kernel, and removes itself", () => {
    const el = document.createElement("div");
    document.body.append(el);
    const state = traits({
      layer: "b",
      layer_view: { $b64: base64(viewBlob("b", 0, "vector", [3], [1, 2, 3])) },
    });
    const unmount = mountStandalone(el, state);
    const root = el.querySelector<HTMLElement>(".acts-root");
    expect(root?.dataset.drawn).toBe("0|b");
    expect(el.querySelectorAll(".acts-bar-row").length).toBe(3);
    unmount();
    expect(el.querySelector(".acts-root")).toBeNull();
  });
});
