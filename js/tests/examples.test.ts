// @vitest-environment happy-dom
// The examples panel on its own: which unit's examples it shows (by key), the histogram and
// bands, mining, opening an example, and examples in context.
import { afterEach, describe, expect, it } from "vitest";
import { ExamplesPanel } from "../src/panels/examples";
import { StaticModel } from "../src/standalone";
import { EXAMPLE_BANDS, examplesKey, type Request } from "../src/traits";
import { encodeBlob, errorBlob, examplesBlob } from "./helpers/encode";
import { traits } from "./helpers/model";

function mount(extra: Record<string, unknown> = {}, kernel: "live" | "offline" | "waiting" = "live") {
  const model = new StaticModel(traits({ mining: { has_dataset: true, layers: ["a"] }, ...extra }));
  const sent: Request[] = [];
  let commits = 0;
  const panel = new ExamplesPanel({
    model,
    on: (event, fn) => model.on(event, fn),
    isDark: () => false,
    live: () => kernel === "live",
    offline: () => kernel === "offline",
    send: (msg) => {
      sent.push(msg);
      return true;
    },
    commit: () => {
      commits++;
    },
  });
  document.body.append(panel.el);
  panel.show();
  const el = panel.el;
  const hint = () => Array.from(el.querySelectorAll(".acts-hint")).map((e) => e.textContent);
  return { model, el, panel, sent, hint, commits: () => commits };
}

afterEach(() => document.body.replaceChildren());

describe("ExamplesPanel", () => {
  it("hides without an index or a dataset, and asks for a unit with one", () => {
    const none = mount({ mining: { has_dataset: false, layers: [] } });
    expect(none.el.style.display).toBe("none");
    const some = mount();
    expect(some.el.style.display).toBe("block");
    expect(some.hint()).toEqual(["Select a unit to see the dataset examples that drive it."]);
  });

  it("shows the examples that answer the unit and band, with their histogram and bands", () => {
    const { model, el, panel } = mount({ unit: 3 });
    model.set("examples_view", examplesBlob("a", 2, -1)); // another unit
    expect(el.dataset.key).toBe("");
    expect(el.querySelector(".acts-example")).toBeNull();
    model.set("examples_view", examplesBlob("a", 3, -1));
    expect(el.dataset.key).toBe(examplesKey("a", 3, -1));
    expect(el.querySelector(".acts-examples-summary")?.textContent).toBe(
      "max 9 · median 4 · active at 50% of positions, in 25% of examples · 300 examples",
    );
    expect(el.querySelectorAll(".acts-hist-bar").length).toBe(3);
    expect(el.querySelectorAll(".acts-band").length).toBe(EXAMPLE_BANDS);
    expect(Array.from(el.querySelectorAll<HTMLElement>(".acts-example")).map((e) => e.dataset.id)).toEqual([
      "11",
      "12",
    ]);
    expect(el.querySelector(".acts-detail-title")?.textContent).toBe("Top 2 examples of neuron 3");
    panel.show();
    expect(el.dataset.key).toBe("a|3|-1");
  });

  it("gives the drawn unit's mined range (the edits slider spans it), none for another unit", () => {
    const { model, panel } = mount({ unit: 3 });
    expect(panel.minedRange()).toBeNull();
    model.set("examples_view", examplesBlob("a", 2, -1)); // not the selected unit
    expect(panel.minedRange()).toBeNull();
    model.set("examples_view", examplesBlob("a", 3, -1));
    expect(panel.minedRange()).toEqual([0, 9]);
  });

  it("opens a band's samples, and closes it with a second click", () => {
    const { model, el, commits } = mount({ unit: 3 });
    model.set("examples_view", examplesBlob("a", 3, -1));
    el.querySelector<HTMLElement>(".acts-band[data-band='9']")?.click();
    expect(model.get("examples_band")).toBe(9);
    expect(commits()).toBe(1);
    expect(el.dataset.key).toBe(""); // until the answer for band 9 comes
    expect(Array.from(el.querySelectorAll(".acts-hint")).map((e) => e.textContent)).toEqual(["loading…"]);
    const rows = [{ id: 40, value: 9.5, position: 0 }];
    model.set("examples_view", examplesBlob("a", 3, 9, { band_rows: rows }));
    expect(el.querySelectorAll(".acts-example-list").length).toBe(2);
    expect(el.querySelector(".acts-band[data-band='9']")?.classList.contains("acts-on")).toBe(true);
    expect(el.querySelectorAll(".acts-detail-title")[1]?.textContent).toMatch(
      /^Samples from the 90%–100% band/,
    );
    el.querySelector<HTMLElement>(".acts-band[data-band='9']")?.click();
    expect(model.get("examples_band")).toBe(-1);
  });

  it("opens an example as the input only with a kernel", () => {
    const live = mount({ unit: 3 });
    live.model.set("examples_view", examplesBlob("a", 3, -1));
    live.el.querySelector<HTMLElement>(".acts-example[data-id='12']")?.click();
    expect(live.sent).toEqual([{ type: "open_example", id: 12 }]);
    expect(live.el.querySelector(".acts-example")?.getAttribute("title")).toBe("Open example 11 as an input");
    const offline = mount({ unit: 3 }, "offline");
    offline.model.set("examples_view", examplesBlob("a", 3, -1));
    offline.el.querySelector<HTMLElement>(".acts-example[data-id='12']")?.click();
    expect(offline.sent).toEqual([]);
  });

  it("offers to mine a layer no index covers, naming the layers that are indexed", () => {
    const missing = { key: "b|1|-1", layer: "b", unit: 1, missing: true, can_mine: true, mined: ["a", "c"] };
    const live = mount({ unit: 1, layer: "b" });
    live.model.set("examples_view", encodeBlob(missing, {}));
    const button = live.el.querySelector<HTMLButtonElement>("button.acts-mine") as HTMLButtonElement;
    expect(button.textContent).toBe("Mine top examples for b");
    expect(button.disabled).toBe(false);
    button.click();
    expect(live.sent).toEqual([{ type: "mine" }]);
    expect(live.hint()).toEqual(["No index covers this layer yet.", "indexed layers: a, c"]);
    const offline = mount({ unit: 1, layer: "b" }, "offline");
    offline.model.set("examples_view", encodeBlob(missing, {}));
    expect(offline.el.querySelector<HTMLButtonElement>("button.acts-mine")?.disabled).toBe(true);
    const cannot = mount({ unit: 1, layer: "b" });
    cannot.model.set("examples_view", encodeBlob({ ...missing, can_mine: false, mined: [] }, {}));
    expect(cannot.el.querySelector("button.acts-mine")).toBeNull();
    expect(cannot.hint()).toEqual([expect.stringMatching(/^No index covers this layer: pass Explorer/)]);
  });

  it("shows an error that answers the unit", () => {
    const { model, el } = mount({ unit: 3 });
    model.set("examples_view", errorBlob("a|3|-1", "the index is corrupt"));
    expect(el.querySelector(".acts-saliency-error")?.textContent).toBe("the index is corrupt");
  });

  it("shows text examples in context as text, the peak marked", () => {
    const tokens = ["the", "<i>cat</i>", "sat"];
    const top = [{ id: 5, value: 3, position: 1, context: "text", tokens, peak: 1, start: 0 }];
    const { model, el } = mount({ unit: 3 });
    model.set(
      "examples_view",
      examplesBlob("a", 3, -1, { top, has_context: true }, { top0: { data: [0, 3, 1], shape: [3] } }),
    );
    const spans = Array.from(el.querySelectorAll(".acts-example-text .acts-token"));
    expect(spans.map((s) => s.textContent)).toEqual(tokens);
    expect(el.querySelector("i")).toBeNull();
    expect(spans[1]?.classList.contains("acts-peak")).toBe(true);
  });

  it("lays out image examples as a grid with the peak boxed", () => {
    const top = [{ id: 5, value: 3, position: 0, context: "image", box: [0, 0, 1, 1] }];
    const rgb = { data: new Array(2 * 2 * 3).fill(9), shape: [2, 2, 3], dtype: "u8raw" as const };
    const { model, el } = mount({ unit: 3 });
    model.set("examples_view", examplesBlob("a", 3, -1, { top, has_context: true }, { top0: rgb }));
    expect(el.querySelector(".acts-example-list")?.classList.contains("acts-example-grid")).toBe(true);
    expect(el.querySelector("canvas.acts-example-thumb")).not.toBeNull();
    expect((el.querySelector(".acts-example-box") as HTMLElement).style.width).toBe("50%");
  });

  it("looks up a snapshot's examples, and says when they were not saved", () => {
    const { model, el, panel, hint } = mount({ mining: { has_dataset: false, layers: [] } }, "offline");
    panel.loadSnapshot(new Map([["a|3|-1", examplesBlob("a", 3, -1)]]));
    model.set("unit", 3);
    panel.show();
    expect(el.dataset.key).toBe("a|3|-1");
    model.set("unit", 4);
    panel.show();
    expect(hint()).toEqual(["These examples were not saved with the page (see ex.snapshot(units=...))."]);
  });
});
