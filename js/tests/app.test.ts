// @vitest-environment happy-dom
// The explorer front end driven through an in-memory model: selection, tagging, keyboard,
// text safety, and the kernel-less note.
import { afterEach, describe, expect, it } from "vitest";
import { ExplorerView } from "../src/app";
import type { LayerInfo } from "../src/model";
import { StaticModel } from "../src/standalone";
import { viewBlob } from "./helpers/encode";

function info(
  name: string,
  kind: LayerInfo["kind"],
  shape: number[] | null,
  depth = 0,
  parent = "",
): LayerInfo {
  return {
    name,
    type: "Linear",
    shape,
    unit_axis: kind === "sequence" ? 1 : 0,
    n_units: shape?.[shape.length - 1] ?? 0,
    n_positions: 1,
    kind,
    output: "",
    outputs: {},
    batch_axis: 0,
    dtype: "float32",
    calls: 1,
    depth,
    parent,
    is_leaf: true,
  };
}

const TOKENS = ["[CLS]", "<img src=x onerror=alert(1)>", "cat", "[SEP]"];

function setup(extra: Record<string, unknown> = {}): {
  model: StaticModel;
  view: ExplorerView;
  el: HTMLElement;
} {
  const model = new StaticModel({
    layer: "a",
    input_index: 0,
    unit: null,
    model_info: { name: "Toy", device: "cpu", dtype: "float32", n_params: 10, training: false },
    layers_info: [info("a", "sequence", [4, 3]), info("b", "vector", [5]), info("c", "none", null)],
    inputs_info: [
      { kind: "text", label: "#0", text: "hello" },
      { kind: "text", label: "#1", text: "world" },
    ],
    thumbs: null,
    view: null,
    status: { state: "ready", message: "" },
    ...extra,
  });
  const el = document.createElement("div");
  document.body.append(el);
  const view = new ExplorerView(model, el);
  return { model, view, el };
}

afterEach(() => {
  document.body.replaceChildren();
});

describe("ExplorerView", () => {
  it("draws the view whose tag matches the selection", async () => {
    const { model, el } = setup();
    model.set(
      "view",
      viewBlob("a", 0, "sequence", [4, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], { tokens: TOKENS }),
    );
    await Promise.resolve();
    const root = el.querySelector<HTMLElement>(".acts-root");
    expect(root?.dataset.drawn).toBe("0|a");
    expect(el.querySelectorAll(".acts-seq-label").length).toBe(4);
  });

  it("never draws a stale answer for another layer", async () => {
    const { model, el } = setup();
    model.set("view", viewBlob("a", 0, "sequence", [4, 3], new Array(12).fill(1)));
    model.set("layer", "b"); // the user moved on
    model.set("view", viewBlob("a", 1, "sequence", [4, 3], new Array(12).fill(2))); // late reply
    await Promise.resolve();
    const root = el.querySelector<HTMLElement>(".acts-root");
    expect(root?.dataset.drawn).toBe("");
    model.set("view", viewBlob("b", 0, "vector", [5], [5, 4, 3, 2, 1]));
    await Promise.resolve();
    expect(root?.dataset.drawn).toBe("0|b");
    expect(el.querySelectorAll(".acts-bar-row").length).toBe(5);
  });

  it("selects layers by click and by keyboard, sending the change", async () => {
    const { model, el } = setup();
    let saved = 0;
    model.save_changes = () => {
      saved++;
    };
    el.querySelector<HTMLElement>(".acts-row[data-name='b']")?.click();
    expect(model.get("layer")).toBe("b");
    expect(model.get("unit")).toBeNull();
    expect(saved).toBe(1);
    const root = el.querySelector<HTMLElement>(".acts-root") as HTMLElement;
    let reachedNotebook = 0;
    document.body.addEventListener("keydown", () => reachedNotebook++);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowUp", bubbles: true }));
    expect(model.get("layer")).toBe("a");
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    expect(model.get("input_index")).toBe(1);
    expect(reachedNotebook).toBe(0);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "a", bubbles: true }));
    expect(reachedNotebook).toBe(1); // other keys still reach the notebook
  });

  it("renders tokens from data as text, never as HTML", async () => {
    const { model, el } = setup();
    model.set("view", viewBlob("a", 0, "sequence", [4, 3], new Array(12).fill(1), { tokens: TOKENS }));
    model.set("unit", 1);
    await Promise.resolve();
    expect(el.querySelector("img")).toBeNull();
    const tokens = Array.from(el.querySelectorAll(".acts-token")).map((t) => t.textContent);
    expect(tokens).toContain("<img src=x onerror=alert(1)>");
  });

  it("says when a layer holds no tensor, and when a view was not saved", async () => {
    const { model, el } = setup();
    model.set("layer", "c");
    await Promise.resolve();
    expect(el.querySelector(".acts-missing")?.textContent).toMatch(/returned no tensor/);
    model.set("layer", "b"); // nothing saved for it, and no kernel to ask
    await Promise.resolve();
    expect(el.querySelector(".acts-missing")?.textContent).toMatch(/not saved with the page/);
  });

  it("shows errors from Python in a banner", () => {
    const { model, el } = setup();
    model.set("status", { state: "error", message: "No layer named 'x'. Did you mean 'a'?" });
    const banner = el.querySelector<HTMLElement>(".acts-banner");
    expect(banner?.classList.contains("acts-shown")).toBe(true);
    expect(banner?.textContent).toContain("Did you mean 'a'?");
  });
});
