// @vitest-environment happy-dom
// The explorer front end driven through an in-memory model: selection, tagging, keyboard,
// text safety, and the kernel-less note.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ExplorerView } from "../src/app";
import type { LayerInfo } from "../src/model";
import { StaticModel } from "../src/standalone";
import { viewBlob } from "./helpers/encode";
import { layerInfo } from "./helpers/layers";

function info(name: string, kind: LayerInfo["kind"], shape: number[] | null): LayerInfo {
  return layerInfo(name, { kind, shape });
}

const TOKENS = ["[CLS]", "<img src=x onerror=alert(1)>", "cat", "[SEP]"];

/** A model with a kernel on the other end: it records what the view sends, and replies. */
class KernelModel extends StaticModel {
  sent: Record<string, unknown>[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: handlers of the AnyModel interface are untyped
  private custom: ((...args: any[]) => void)[] = [];

  // biome-ignore lint/suspicious/noExplicitAny: as above
  override on(event: string, fn: (...args: any[]) => void): void {
    if (event === "msg:custom") this.custom.push(fn);
    super.on(event, fn);
  }

  override send(msg?: unknown): void {
    this.sent.push(msg as Record<string, unknown>);
  }

  reply(msg: Record<string, unknown>, buffers: DataView[] = []): void {
    for (const fn of this.custom) fn(msg, buffers);
  }

  fetches(): string[] {
    return this.sent.filter((m) => m.type === "fetch").map((m) => `${m.input}|${m.layer}`);
  }
}

function setup(
  extra: Record<string, unknown> = {},
  Model: typeof StaticModel = StaticModel,
): {
  model: StaticModel;
  view: ExplorerView;
  el: HTMLElement;
} {
  const model = new Model({
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
  vi.useRealTimers();
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

  it("prefetches after a pause: nearby layers, then the next input, which then draws at once", async () => {
    vi.useFakeTimers();
    const inputs = [0, 1, 2].map((i) => ({ kind: "text", label: `#${i}`, text: `text ${i}` }));
    const { model, el } = setup({ inputs_info: inputs }, KernelModel);
    const kernel = model as KernelModel;
    kernel.reply({ type: "hello" });
    model.set("view", viewBlob("a", 0, "sequence", [4, 3], new Array(12).fill(1)));
    await Promise.resolve();
    expect(kernel.fetches()).toEqual([]); // nothing queued while the user may still be clicking
    vi.advanceTimersByTime(300);
    expect(kernel.fetches()).toEqual(["0|b"]);
    const answer = (input: number, layer: string, blob: DataView) => {
      const id = kernel.sent[kernel.sent.length - 1]?.id;
      kernel.reply({ type: "block", id, layer, input }, [blob]);
    };
    answer(0, "b", viewBlob("b", 0, "vector", [5], [1, 2, 3, 4, 5]));
    expect(kernel.fetches()).toEqual(["0|b", "1|a"]); // then this layer of the next input
    answer(1, "a", viewBlob("a", 1, "sequence", [4, 3], new Array(12).fill(2)));
    const root = el.querySelector<HTMLElement>(".acts-root") as HTMLElement;
    expect(root.dataset.prefetching).toBe("0");
    model.set("input_index", 1); // stepping → : drawn from the store, no round trip
    await Promise.resolve();
    expect(root.dataset.drawn).toBe("1|a");
  });
});
