// @vitest-environment happy-dom
// The explorer driven through an in-memory model: selection, keys, keyboard, text safety,
// the banner and the job, the hello handshake, snapshots, prefetching, themes.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ExplorerView } from "../src/explorer";
import { StaticModel } from "../src/standalone";
import { compress, encodeBlob, errorBlob, snapshotBlob, viewBlob } from "./helpers/encode";
import { KernelModel, traits } from "./helpers/model";
import { attentionBlob, effectsBlob, lensBlob, nextTokensBlob, unavailableBlob } from "./helpers/panels";

const TOKENS = ["[CLS]", "<img src=x onerror=alert(1)>", "cat", "[SEP]"];

function setup<M extends StaticModel>(
  extra: Record<string, unknown> = {},
  Model: new (state: Record<string, unknown>) => M = StaticModel as new (
    state: Record<string, unknown>,
  ) => M,
): { model: M; view: ExplorerView; el: HTMLElement; root: HTMLElement } {
  const model = new Model(traits(extra));
  const el = document.createElement("div");
  document.body.append(el);
  const view = new ExplorerView(model, el);
  return { model, view, el, root: view.root };
}

afterEach(() => {
  document.body.replaceChildren();
  document.body.removeAttribute("style");
  document.body.className = "";
  vi.useRealTimers();
});

describe("ExplorerView", () => {
  it("draws the view whose key matches the selection, and says so with an event", async () => {
    const { model, el, root } = setup();
    const events: CustomEvent[] = [];
    root.addEventListener("actscope:drawn", (e) => events.push(e as CustomEvent));
    model.set(
      "layer_view",
      viewBlob("a", 0, "sequence", [4, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], { tokens: TOKENS }),
    );
    await Promise.resolve();
    expect(root.dataset.drawn).toBe("0|a");
    expect(el.querySelectorAll(".acts-seq-label").length).toBe(4);
    expect(events.length).toBe(1);
    expect(events[0]?.detail).toMatchObject({ layer: "a", input_index: 0 });
    expect(typeof events[0]?.detail.t).toBe("number");
  });

  it("never draws a stale answer for another layer", async () => {
    const { model, el, root } = setup();
    model.set("layer_view", viewBlob("a", 0, "sequence", [4, 3], new Array(12).fill(1)));
    model.set("layer", "b"); // the user moved on
    model.set("layer_view", viewBlob("a", 1, "sequence", [4, 3], new Array(12).fill(2))); // late reply
    await Promise.resolve();
    expect(root.dataset.drawn).toBe("");
    model.set("layer_view", viewBlob("b", 0, "vector", [5], [5, 4, 3, 2, 1]));
    await Promise.resolve();
    expect(root.dataset.drawn).toBe("0|b");
    expect(root.dataset.layer).toBe("b");
    expect(el.querySelectorAll(".acts-bar-row").length).toBe(5);
  });

  it("selects layers by click and by keyboard, sending the change", async () => {
    const { model, el, root } = setup({}, KernelModel);
    el.querySelector<HTMLElement>(".acts-row[data-name='b']")?.click();
    expect(model.get("layer")).toBe("b");
    expect(model.get("unit")).toBeNull();
    expect(model.saved).toBe(1);
    let reachedNotebook = 0;
    document.body.addEventListener("keydown", () => reachedNotebook++);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowUp", bubbles: true }));
    expect(model.get("layer")).toBe("a");
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    expect(model.get("input_index")).toBe(1);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true })); // no input 2
    expect(model.get("input_index")).toBe(1);
    expect(reachedNotebook).toBe(0);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "a", bubbles: true }));
    expect(reachedNotebook).toBe(1); // other keys still reach the notebook
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", shiftKey: true, bubbles: true }));
    expect(reachedNotebook).toBe(2); // so do modified arrows
  });

  it("debounces keyboard moves by 60 ms and clears the unit with Escape", () => {
    vi.useFakeTimers();
    const { model, root } = setup({ unit: 2 }, KernelModel);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    expect([model.get("layer"), model.get("input_index")]).toEqual(["b", 1]);
    expect(model.saved).toBe(0);
    vi.advanceTimersByTime(59);
    expect(model.saved).toBe(0);
    vi.advanceTimersByTime(1);
    expect(model.saved).toBe(1); // one message for both moves
    model.set("unit", 3);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(model.get("unit")).toBeNull();
    expect(model.saved).toBe(2); // at once
  });

  it("ignores keys typed into the layer filter", () => {
    const { model, el } = setup();
    const filter = el.querySelector("input.acts-filter") as HTMLInputElement;
    filter.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    expect(model.get("layer")).toBe("a");
  });

  it("renders tokens from data as text, never as HTML", async () => {
    const { model, el, root } = setup();
    model.set("layer_view", viewBlob("a", 0, "sequence", [4, 3], new Array(12).fill(1), { tokens: TOKENS }));
    model.set("unit", 1);
    await Promise.resolve();
    expect(root.dataset.unit).toBe("1");
    expect(el.querySelector("img")).toBeNull();
    const tokens = Array.from(el.querySelectorAll(".acts-token")).map((t) => t.textContent);
    expect(tokens).toContain("<img src=x onerror=alert(1)>");
  });

  it("says when a layer holds no tensor, and when a view was not saved", async () => {
    const { model, el } = setup();
    model.set("layer", "c");
    await Promise.resolve();
    expect(el.querySelector(".acts-missing")?.textContent).toMatch(/returned no tensor/);
    expect(el.querySelector(".acts-missing")?.getAttribute("data-key")).toBe("0|c");
    model.set("layer", "b"); // nothing saved for it, and no kernel to ask
    await Promise.resolve();
    expect(el.querySelector(".acts-missing")?.textContent).toMatch(/not saved with the page/);
    expect(el.querySelector(".acts-missing")?.getAttribute("data-key")).toBe("0|b");
  });

  it("says at once, with no kernel at all, that the first view was not saved", () => {
    const { el, root } = setup(); // no layer_view: a page saved before the view was computed
    expect(root.classList.contains("acts-loading")).toBe(false);
    expect(el.querySelector(".acts-missing")?.textContent).toMatch(/not saved with the page/);
  });

  it("waits for the kernel's hello before saying a view was not saved", async () => {
    vi.useFakeTimers();
    const { model, root, el } = setup({}, KernelModel);
    expect(model.sent[0]).toEqual({ type: "hello" });
    vi.advanceTimersByTime(1999);
    expect(root.classList.contains("acts-loading")).toBe(true); // a kernel may still answer
    expect(el.querySelector(".acts-missing")).toBeNull();
    vi.advanceTimersByTime(1); // it never did
    expect(el.querySelector(".acts-missing")?.textContent).toMatch(/not saved with the page/);
  });

  it("shows errors from Python in a banner, dismissable", () => {
    const { model, el } = setup();
    model.set("status", { state: "error", message: "No layer named 'x'. Did you mean 'a'?" });
    const banner = el.querySelector<HTMLElement>(".acts-banner") as HTMLElement;
    expect(banner.classList.contains("acts-shown")).toBe(true);
    expect(banner.dataset.state).toBe("error");
    expect(banner.textContent).toContain("Did you mean 'a'?");
    expect(el.querySelector(".acts-status")?.textContent).toBe("error");
    banner.querySelector<HTMLElement>(".acts-dismiss")?.click();
    expect(banner.classList.contains("acts-shown")).toBe(false);
    model.set("status", { state: "busy", message: "mining…" });
    expect(el.querySelector(".acts-status")?.textContent).toBe("mining…");
    expect(el.querySelector(".acts-model")?.textContent).toBe("Toy · cpu · float32 · 10 params");
  });

  it("shows the running job with its progress and a Cancel button", () => {
    const { model, el } = setup({}, KernelModel);
    model.set("job", { name: "mining", state: "running", progress: 0.25, message: "batch 3 of 12" });
    const job = el.querySelector<HTMLElement>(".acts-task") as HTMLElement;
    expect(job.dataset.state).toBe("running");
    expect(job.textContent).toContain("mining: batch 3 of 12");
    expect(job.querySelector<HTMLProgressElement>("progress")?.value).toBe(0.25);
    Array.from(job.querySelectorAll("button"))
      .find((b) => b.textContent === "Cancel")
      ?.click();
    expect(model.sent).toContainEqual({ type: "cancel" });
    model.set("job", { name: "mining", state: "cancelled", progress: null, message: "" });
    expect(job.textContent).toBe("mining cancelled");
    model.set("job", { name: "mining", state: "done", progress: 1, message: "" });
    expect(job.textContent).toBe("");
  });

  it("prefetches after a pause: nearby layers, then the next input, which then draws at once", async () => {
    vi.useFakeTimers();
    const inputs = [0, 1, 2].map((i) => ({ modality: "text", label: `#${i}`, text: `text ${i}` }));
    const { model, root } = setup({ inputs_info: inputs }, KernelModel);
    model.reply({ type: "hello" });
    model.set("layer_view", viewBlob("a", 0, "sequence", [4, 3], new Array(12).fill(1)));
    await Promise.resolve();
    expect(model.fetches()).toEqual([]); // nothing queued while the user may still be clicking
    vi.advanceTimersByTime(300);
    expect(model.fetches()).toEqual(["0|b"]);
    expect(root.dataset.prefetching).toBe("1");
    const answer = (key: string, blob: DataView) => {
      const last = model.sent[model.sent.length - 1];
      model.reply({ type: "layer_view", id: last?.type === "fetch" ? last.id : -1, key }, [blob]);
    };
    answer("0|b", viewBlob("b", 0, "vector", [5], [1, 2, 3, 4, 5]));
    expect(model.fetches()).toEqual(["0|b", "1|a"]); // then this layer of the next input
    answer("1|a", viewBlob("a", 1, "sequence", [4, 3], new Array(12).fill(2)));
    expect(model.fetches()).toEqual(["0|b", "1|a"]); // input 0 is the first: nothing else left
    expect(root.dataset.prefetching).toBe("0");
    model.set("input_index", 1); // stepping → : drawn from the store, no round trip
    await Promise.resolve();
    expect(root.dataset.drawn).toBe("1|a");
  });

  it("prefetches only while prefetch is on, and never asks again for a view that failed", async () => {
    vi.useFakeTimers();
    const { model } = setup({ prefetch: false }, KernelModel);
    model.reply({ type: "hello" });
    model.set("layer_view", viewBlob("a", 0, "sequence", [4, 3], new Array(12).fill(1)));
    await Promise.resolve();
    vi.advanceTimersByTime(1000);
    expect(model.fetches()).toEqual([]);
    model.set("prefetch", true); // at once: the user is idle
    expect(model.fetches()).toEqual(["0|b"]);
    const first = model.sent[model.sent.length - 1];
    model.reply({
      type: "layer_view",
      id: first?.type === "fetch" ? first.id : -1,
      key: "0|b",
      error: "boom",
    });
    expect(model.fetches()).toEqual(["0|b", "1|a"]); // not 0|b again
  });

  it("draws an error blob as the answer, with its message", async () => {
    const { model, el, root } = setup();
    model.set("layer_view", errorBlob("0|a", "CUDA out of memory", { layer: "a", input_index: 0 }));
    await Promise.resolve();
    expect(root.dataset.drawn).toBe("0|a");
    const note = el.querySelector(".acts-missing.acts-view-error");
    expect(note?.textContent).toBe("CUDA out of memory");
  });

  it("draws views from a snapshot with no kernel", async () => {
    const snapshot = snapshotBlob([
      ["layer_view|0|a", viewBlob("a", 0, "sequence", [4, 3], new Array(12).fill(1))],
      ["layer_view|0|b", viewBlob("b", 0, "vector", [5], [1, 2, 3, 4, 5])],
    ]);
    const { model, root } = setup({ snapshot_data: snapshot });
    await vi.waitFor(() => expect(root.dataset.drawn).toBe("0|a"));
    expect(root.dataset.snapshot).toBe("2");
    model.set("layer", "b");
    await Promise.resolve();
    expect(root.dataset.drawn).toBe("0|b");
  });

  it("says when the snapshot cannot be read", async () => {
    const broken = compress(
      encodeBlob({ keys: ["layer_view|0|a"] }, { e0: { data: [1, 2], shape: [2], dtype: "u8raw" } }),
    );
    const { el } = setup({ snapshot_data: broken });
    await vi.waitFor(() =>
      expect(el.querySelector(".acts-missing")?.textContent).toMatch(/snapshot could not be read/),
    );
  });

  it("redraws in the dark colour scale when the page turns dark", async () => {
    const { model, root } = setup();
    model.set("layer_view", viewBlob("b", 0, "vector", [5], [1, 2, 3, 4, 5]));
    model.set("layer", "b");
    await Promise.resolve();
    expect(root.dataset.theme).toBe("light");
    document.body.style.backgroundColor = "rgb(20, 20, 20)";
    document.body.className = "jp-theme-dark"; // what the observer watches
    await vi.waitFor(() => expect(root.dataset.theme).toBe("dark"));
  });

  it("stops listening once disposed", async () => {
    const { model, view, el } = setup();
    view.dispose();
    expect(el.querySelector(".acts-root")).toBeNull();
    model.set("layer_view", viewBlob("a", 0, "sequence", [4, 3], new Array(12).fill(1)));
    await Promise.resolve();
    expect(view.root.dataset.drawn).not.toBe("0|a");
  });
});

describe("ExplorerView: the prediction panels", () => {
  const PANELS = {
    position: null,
    outputs_view: null,
    attention_view: null,
    attention_layers: { a: "attn", b: "attn", attn: "attn" },
    head: null,
    head_score: "induction",
    lens_view: null,
    effects_view: null,
  };
  const WORDS = ["The", "Ġcat", "Ġsat"];
  const NAMES = { 1: "Ġcat", 2: "Ġsat", 3: "Ġthe" };
  const top: [number, number][][] = [[[1, 0.5]], [[2, 0.6]], [[3, 0.4]]];
  const lm = (input: number) => nextTokensBlob(input, WORDS, top, NAMES, [0.5, 0.6, Number.NaN]);
  const lens = (input: number) =>
    lensBlob(input, ["h.0"], WORDS, [[[[1, 0.5]], [[2, 0.6]], [[3, 0.4]]]], NAMES, [[0, 0, 0]]);
  const attention = (input: number) =>
    attentionBlob(input, "attn", [[1, 0, 0, 1, 0, 0, 0, 1, 0]], { induction: [0.5] }, WORDS);

  it("lays out the edits bar and the outputs under the inputs, the unit's panels by the examples", () => {
    const { el } = setup(PANELS);
    const main = el.querySelector(".acts-main") as HTMLElement;
    const order = Array.from(main.children).map((c) => c.className.split(" ")[0]);
    expect(order.indexOf("acts-edits")).toBe(order.indexOf("acts-inputs") + 1);
    expect(order.indexOf("acts-outputs")).toBe(order.indexOf("acts-inputs") + 2);
    expect(order.indexOf("acts-outputs")).toBeLessThan(order.indexOf("acts-main-head"));
    expect(order.indexOf("acts-effects")).toBe(order.indexOf("acts-examples") - 1);
    for (const panel of ["acts-attention", "acts-lens"])
      expect(order.indexOf(panel)).toBeGreaterThan(order.indexOf("acts-view"));
  });

  it("shares the selected position between the outputs, the lens and the saliency target", () => {
    const { model, el } = setup(
      {
        ...PANELS,
        outputs_view: lm(0),
        lens_view: lens(0),
        saliency_method: "gradient",
        saliency_target: { type: "token" },
      },
      KernelModel,
    );
    const outputs = el.querySelector<HTMLElement>(".acts-outputs") as HTMLElement;
    expect(outputs.dataset.outputs).toBe("drawn");
    expect(el.querySelector<HTMLOptionElement>(".acts-saliency option[value='token']")?.hidden).toBe(false);
    expect(el.querySelector(".acts-lens-col.acts-on")?.getAttribute("data-position")).toBe("2");
    el.querySelector<HTMLElement>(".acts-outputs-token[data-position='1']")?.click();
    expect(model.get("position")).toBe(1);
    expect(model.saved).toBe(1);
    expect(el.querySelector<HTMLElement>(".acts-outputs-top")?.dataset.position).toBe("1");
    expect(el.querySelector(".acts-lens-col.acts-on")?.getAttribute("data-position")).toBe("1");
    model.set("saliency_view", encodeBlob({ key: "0|gradient|token:1", error: "no gradient" }, {}));
    expect(el.querySelector(".acts-saliency")?.getAttribute("data-key")).toBe("0|gradient|token:1");
    el.querySelector<HTMLElement>(".acts-lens-col[data-position='0']")?.click();
    expect(model.get("position")).toBe(0);
    expect(el.querySelector<HTMLElement>(".acts-outputs-top")?.dataset.position).toBe("0");
  });

  it("follows the input and the layer in every panel, drawing only what answers them", () => {
    const { model, el } = setup({ ...PANELS, outputs_view: lm(0), attention_view: attention(0) });
    const state = (cls: string, attr: string) => el.querySelector<HTMLElement>(cls)?.dataset[attr];
    expect(state(".acts-attention", "attention")).toBe("drawn");
    model.set("input_index", 1);
    expect(state(".acts-outputs", "outputs")).toBe("missing"); // no kernel, nothing saved
    expect(state(".acts-attention", "attention")).toBe("missing");
    model.set("outputs_view", lm(1));
    model.set("attention_view", attention(1));
    expect(state(".acts-outputs", "outputs")).toBe("drawn");
    model.set("layer", "b"); // the same attention layer is shown
    expect(state(".acts-attention", "attention")).toBe("drawn");
    expect(state(".acts-effects", "effects")).toBe("hidden");
    model.set("effects_view", effectsBlob("b", 3, [[1, 1]], [[2, -1]], NAMES));
    model.set("unit", 3);
    expect(state(".acts-effects", "effects")).toBe("drawn");
    model.set("lens_view", unavailableBlob("1", "The logit lens needs a causal language model."));
    expect(state(".acts-lens", "lens")).toBe("unavailable");
  });

  it("draws the prediction panels from a snapshot with no kernel", async () => {
    const snapshot = snapshotBlob([
      ["outputs|0", lm(0)],
      ["lens|0", lens(0)],
      ["attention|0|attn", attention(0)],
      ["effects|a|2", effectsBlob("a", 2, [[1, 1]], [[2, -1]], NAMES)],
    ]);
    const { model, el } = setup({ ...PANELS, snapshot_data: snapshot, unit: 2 });
    const state = (cls: string, attr: string) => el.querySelector<HTMLElement>(cls)?.dataset[attr];
    await vi.waitFor(() => expect(state(".acts-outputs", "outputs")).toBe("drawn"));
    expect(state(".acts-lens", "lens")).toBe("drawn");
    expect(state(".acts-attention", "attention")).toBe("drawn");
    expect(state(".acts-effects", "effects")).toBe("drawn");
    model.set("input_index", 1);
    expect(state(".acts-lens", "lens")).toBe("missing");
    expect(el.querySelector(".acts-lens .acts-hint")?.textContent).toMatch(/^not saved in this snapshot/);
  });

  it("hides the panels a page saved before they existed does not have", () => {
    const { el } = setup();
    for (const cls of [".acts-outputs", ".acts-attention", ".acts-lens", ".acts-effects"])
      expect(el.querySelector<HTMLElement>(cls)?.style.display).toBe("none");
  });

  it("recolours the loss of each token when the page turns dark", async () => {
    const { el } = setup({ ...PANELS, outputs_view: lm(0) });
    const chip = () => el.querySelector<HTMLElement>(".acts-outputs-token")?.style.background;
    const light = chip();
    document.body.style.backgroundColor = "rgb(20, 20, 20)";
    document.body.className = "jp-theme-dark";
    await vi.waitFor(() => expect(chip()).not.toBe(light));
  });
});
