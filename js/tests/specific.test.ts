// @vitest-environment happy-dom
// The units most specific to a group of inputs: the buttons that set the group, the ranked
// list (and its clicks), edits, and what it says when nothing answers or little can.
import { afterEach, describe, expect, it } from "vitest";
import { groupText, SpecificPanel } from "../src/panels/specific";
import { specificKey } from "../src/traits";
import { encodeBlob } from "./helpers/encode";
import { panelHost, unavailableBlob } from "./helpers/panels";

const INPUTS = [0, 1, 2, 3].map((i) => ({ label: `t${i}`, kind: "text" }));

function specificBlob(layer: string, group: number[], rows: [number, number, number][], extra = {}) {
  const col = (i: number) => rows.map((r) => r[i] as number);
  return encodeBlob(
    {
      key: specificKey(layer, groupText(group)),
      layer,
      group,
      others: INPUTS.length - group.length,
      ...extra,
    },
    {
      units: { data: col(0), shape: [rows.length], dtype: "i32" },
      difference: { data: rows.map((r) => r[1] - r[2]), shape: [rows.length] },
      group_mean: { data: col(1), shape: [rows.length] },
      others_mean: { data: col(2), shape: [rows.length] },
    },
  );
}

function mount(extra: Record<string, unknown> = {}, offline = false) {
  const m = panelHost(
    { inputs_info: INPUTS, contrast_group: [], specific_view: null, layer: "a", ...extra },
    offline,
  );
  const picked: (number | null)[] = [];
  const panel = new SpecificPanel({ ...m.host, selectUnit: (u) => picked.push(u) });
  m.root.append(panel.el);
  panel.show();
  const rows = () => Array.from(panel.el.querySelectorAll<HTMLElement>(".acts-barlist-row"));
  const click = (action: string) => panel.el.querySelector<HTMLElement>(`[data-group='${action}']`)?.click();
  return { ...m, panel, el: panel.el, rows, click, picked };
}

afterEach(() => document.body.replaceChildren());

describe("SpecificPanel", () => {
  it("keys groups as Python does: ascending, once each", () => {
    expect(groupText([3, 0, 3, 12])).toBe("0,3,12");
    expect(specificKey("h.0", groupText([2]))).toBe("h.0|2");
  });

  it("offers the current input alone, then adds, removes and clears", () => {
    const { model, el, click, commits } = mount({ input_index: 2 });
    expect(el.dataset.specific).toBe("idle");
    expect(el.querySelectorAll("[data-group]").length).toBe(1);
    click("only");
    expect(model.get("contrast_group")).toEqual([2]);
    expect(commits()).toBe(1);
    expect(el.dataset.specific).toBe("loading");
    expect(el.querySelector(".acts-hint")?.textContent).toBe("computing…");
    model.set("input_index", 0);
    click("toggle"); // + input 0
    expect(model.get("contrast_group")).toEqual([0, 2]);
    expect(el.querySelector("[data-group='toggle']")?.textContent).toBe("− this input");
    click("toggle");
    expect(model.get("contrast_group")).toEqual([2]);
    click("clear");
    expect(model.get("contrast_group")).toEqual([]);
    expect(el.dataset.specific).toBe("idle");
  });

  it("lists the group's units by their difference, and a click selects one", () => {
    const blob = specificBlob(
      "a",
      [1, 3],
      [
        [7, 3, 1],
        [4, 1.5, 0.5],
      ],
    );
    const { model, el, rows, picked, panel } = mount({
      contrast_group: [1, 3],
      specific_view: blob,
      unit: 4,
    });
    expect(el.dataset.specific).toBe("drawn");
    expect(el.dataset.key).toBe("a|1,3");
    expect(rows().map((r) => r.dataset.unit)).toEqual(["7", "4"]);
    expect(rows().map((r) => r.querySelector(".acts-barlist-value")?.textContent)).toEqual(["2", "1"]);
    expect(rows()[0]?.title).toBe("unit 7: mean peak 3 on inputs 1, 3, 1 on the other 2");
    expect(rows()[1]?.classList.contains("acts-selected")).toBe(true);
    expect(el.textContent).toContain("inputs 1, 3 against the other 2");
    rows()[0]?.click();
    expect(picked).toEqual([7]);
    model.set("layer", "b"); // another layer's answer is not this one's
    panel.show(); // the explorer does on a layer change
    expect(el.dataset.specific).toBe("loading");
  });

  it("shows an answer only for the edits it was computed with", () => {
    const edits = [{ layer: "a", units: [7], positions: null, op: "scale" as const, amount: 0 }];
    const clean = specificBlob("a", [1], [[7, 3, 1]]);
    const { model, el, panel } = mount({ contrast_group: [1], specific_view: clean });
    expect(el.dataset.specific).toBe("drawn");
    model.set("edits", edits);
    panel.show();
    expect(el.dataset.specific).toBe("loading");
  });

  it("says why there is no contrast, and what a page without a kernel did not save", () => {
    const why = unavailableBlob(
      specificKey("a", "0,1,2,3"),
      "A contrast needs inputs in the group and outside it",
    );
    const { el } = mount({ contrast_group: [0, 1, 2, 3], specific_view: why });
    expect(el.dataset.specific).toBe("unavailable");
    expect(el.textContent).toContain("outside it");
    document.body.replaceChildren();
    const page = mount({ contrast_group: [0, 2] }, true);
    expect(page.el.dataset.specific).toBe("missing");
    expect(page.el.textContent).toMatch(/not (saved|precomputed)/);
    document.body.replaceChildren();
    const one = mount({ inputs_info: INPUTS.slice(0, 1) });
    expect(one.el.dataset.specific).toBe("hidden");
  });
});
