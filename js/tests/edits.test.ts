// @vitest-environment happy-dom
// The edits bar on its own (ablate / set / steer the selected unit, chips, the layer view's
// edited / clean / difference), the tag both sides write for the edits a blob answers, and
// the panels drawing only the blob computed with the active edits.
import { afterEach, describe, expect, it } from "vitest";
import { layerViewFromBlob } from "../src/layouts/data";
import { describeEdit, EditsPanel, editsTag, normalAmount, taggedKey } from "../src/panels/edits";
import { OutputsPanel } from "../src/panels/outputs";
import { PanelBlobs } from "../src/snapshot";
import { StaticModel } from "../src/standalone";
import { storeKey, ViewStore } from "../src/store";
import { type EditSpec, type EditView, outputsKey } from "../src/traits";
import fixture from "./fixtures/contract.json";
import { encodeBlob, viewBlob } from "./helpers/encode";
import { traits } from "./helpers/model";
import { classesBlob, panelHost } from "./helpers/panels";

interface Case {
  edits: EditSpec[];
  view: EditView;
  tag: string;
}

afterEach(() => document.body.replaceChildren());

const ABLATE: EditSpec = { layer: "a", units: [2], positions: null, op: "scale", amount: 0 };

function mount(
  extra: Record<string, unknown> = {},
  range: [number, number] | null = [-2, 3],
  offline = false,
) {
  const found = range ? { range, what: "this layer's values on this input" } : null;
  const model = new StaticModel(traits({ edits: [], edit_view: "edited", position: null, ...extra }));
  let commits = 0;
  const panel = new EditsPanel({
    model,
    on: (event, fn) => model.on(event, fn),
    commit: () => {
      commits++;
    },
    valueRange: () => found,
    offline: () => offline,
  });
  document.body.append(panel.el);
  const click = (sel: string) => (panel.el.querySelector(sel) as HTMLElement).click();
  return { model, panel, el: panel.el, click, commits: () => commits };
}

describe("editsTag", () => {
  it("writes what Python writes for the same edits", () => {
    const cases = fixture.edits_tag as unknown as Case[];
    expect(cases.length).toBeGreaterThan(3);
    for (const c of cases) expect(editsTag(c.edits, c.view)).toBe(c.tag);
  });

  it("is empty with no edits, whatever the view, and keys keep their own form then", () => {
    expect(editsTag([], "difference")).toBe("");
    expect(taggedKey("0|a", "")).toBe("0|a");
    expect(taggedKey("0|a", "edited:[]")).toBe("0|a~edited:[]");
  });

  it("normalises amounts as the trait does", () => {
    expect(normalAmount(1 / 3)).toBe(0.3333);
    expect(normalAmount(-0.00001)).toBe(0);
    expect(Object.is(normalAmount(-0.00001), -0)).toBe(false);
    expect(normalAmount(5e9)).toBe(1e6);
  });
});

describe("EditsPanel", () => {
  it("asks for a unit first", () => {
    const { el } = mount();
    expect(el.textContent).toContain("Select a unit");
    expect(el.querySelector("[data-edit]")).toBeNull();
  });

  it("ablates the selected unit at every position", () => {
    const { model, click, commits } = mount({ unit: 2 });
    click("[data-edit='ablate']");
    expect(model.get("edits")).toEqual([ABLATE]);
    expect(commits()).toBe(1);
  });

  it("sets and steers by the amount typed, only at the selected position when asked", () => {
    const { model, el, click } = mount({ unit: 1, position: 3 });
    const amount = el.querySelector(".acts-edits-amount") as HTMLInputElement;
    amount.value = "2.123456";
    amount.dispatchEvent(new Event("change"));
    (el.querySelector(".acts-edits-at") as HTMLInputElement).checked = true;
    click("[data-edit='set']");
    const edits = model.get("edits") as EditSpec[];
    expect(edits).toEqual([{ layer: "a", units: [1], positions: [3], op: "value", amount: 2.1235 }]);
    // The bar drew again with the chip; the amount typed is kept.
    const again = el.querySelector(".acts-edits-amount") as HTMLInputElement;
    expect(again.value).toBe("2.1235");
    click("[data-edit='steer']");
    expect((model.get("edits") as EditSpec[])[1]).toEqual({
      layer: "a",
      units: [1],
      positions: null,
      op: "add",
      amount: 2.1235,
    });
  });

  it("spans the slider over the layer's values on this input, and zero", () => {
    const { el } = mount({ unit: 0 }, [0.5, 3]);
    const slider = el.querySelector(".acts-edits-slider") as HTMLInputElement;
    expect([slider.min, slider.max]).toEqual(["0", "3"]);
    expect(slider.title).toContain("0.5 to 3");
  });

  it("lists the edits as chips that can be removed, one or all", () => {
    const steer: EditSpec = { layer: "b", units: [0, 4], positions: [1], op: "add", amount: -1.5 };
    const { model, el, click } = mount({ edits: [ABLATE, steer] });
    const chips = Array.from(el.querySelectorAll(".acts-edits-chip"), (c) => c.textContent);
    expect(chips).toEqual([`${describeEdit(ABLATE)}✕`, `${describeEdit(steer)}✕`]);
    expect(describeEdit(steer)).toBe("b · units 0, 4 at 1 · + -1.5");
    expect(el.querySelector(".acts-edits-badge")?.textContent).toBe("edited");
    click(".acts-edits-chip[data-index='0'] .acts-edits-remove");
    expect(model.get("edits")).toEqual([steer]);
    const clear = Array.from(el.querySelectorAll("button")).find((b) => b.textContent === "clear");
    clear?.click();
    expect(model.get("edits")).toEqual([]);
    expect(el.querySelector(".acts-edits-chip")).toBeNull();
  });

  it("offline, shows the saved edits without controls, and nothing when there are none", () => {
    const none = mount({ unit: 1 }, [-2, 3], true);
    expect(none.el.style.display).toBe("none");
    const saved = mount({ unit: 1, edits: [ABLATE] }, [-2, 3], true);
    expect(saved.el.querySelector("[data-edit]")).toBeNull();
    expect(saved.el.querySelector(".acts-edits-remove")).toBeNull();
    expect(saved.el.querySelector(".acts-edits-chip")?.textContent).toBe(describeEdit(ABLATE));
    expect(saved.el.textContent).toContain("need a running kernel");
  });

  it("switches what the layer view shows while edits are active", () => {
    const { model, el, click } = mount({ edits: [ABLATE] });
    expect(el.querySelector("[data-view='edited']")?.classList.contains("acts-on")).toBe(true);
    click("[data-view='difference']");
    expect(model.get("edit_view")).toBe("difference");
    expect(el.querySelector("[data-view='difference']")?.classList.contains("acts-on")).toBe(true);
  });
});

describe("blobs answer the edits they were computed with", () => {
  const tag = editsTag([ABLATE]);

  it("files a clean and an edited view of the same key apart", () => {
    const store = new ViewStore();
    const clean = layerViewFromBlob(viewBlob("a", 0, "vector", [3], [1, 2, 3]));
    const edited = layerViewFromBlob(viewBlob("a", 0, "vector", [3], [0, 0, 0], { edits: tag }));
    store.put(clean);
    store.put(edited);
    expect(storeKey(clean)).toBe("0|a");
    expect(store.get(taggedKey("0|a", tag))).toBe(edited);
    expect(store.get("0|a")).toBe(clean);
  });

  it("PanelBlobs answers only with the blob of the asked edits, live or saved", () => {
    const blobs = new PanelBlobs<{ key: string }>("outputs");
    const edited = classesBlob(0, [1], [0.9], { 1: "one" });
    blobs.setLive(edited, "0");
    expect(blobs.answer("0", false, tag)).toBeNull(); // a clean blob does not answer edits
    expect(blobs.answer("0", false, "")).not.toBeNull();
  });

  it("the outputs panel draws an edited run with the clean probabilities beside", () => {
    const blob = classesBlob(0, [1, 2], [0.9, 0.1], { 1: "one", 2: "two" });
    const m = panelHost({ edits: [ABLATE] });
    const panel = new OutputsPanel(m.host);
    m.root.append(panel.el);
    m.model.set("outputs_view", blob); // clean: not for these edits
    expect(panel.el.dataset.outputs).toBe("loading");
    const tagged = withEdits(tag, [0.4, 0.5]);
    m.model.set("outputs_view", tagged);
    expect(panel.el.dataset.outputs).toBe("drawn");
    const values = Array.from(panel.el.querySelectorAll(".acts-barlist-value"), (e) => e.textContent);
    expect(values).toEqual(["90.0% (clean 40.0%)", "10.0% (clean 50.0%)"]);
    expect(panel.el.querySelector(".acts-edits-badge")?.textContent).toBe("edited");
  });
});

/** The classes blob above, computed with the edits `tag`, with the clean run's probabilities. */
function withEdits(tag: string, clean: number[]): DataView {
  return encodeBlob(
    {
      key: outputsKey(0),
      input_index: 0,
      task: "classes",
      label: "",
      names: { 1: "one", 2: "two" },
      edits: tag,
    },
    {
      ids: { data: [1, 2], shape: [2], dtype: "i32" },
      probs: { data: [0.9, 0.1], shape: [2] },
      clean_probs: { data: clean, shape: [2] },
    },
  );
}
