// @vitest-environment happy-dom
// The patching panel on its own: the sweep as layers × positions of the share restored, a
// click on a cell opening that layer and position, and the Run button (live only).
import { afterEach, describe, expect, it } from "vitest";
import { PatchingPanel, restored } from "../src/panels/patching";
import type { Request } from "../src/traits";
import { encodeBlob } from "./helpers/encode";
import { layerInfo } from "./helpers/layers";
import { panelHost } from "./helpers/panels";

afterEach(() => document.body.replaceChildren());

const TOKENS = ["The", "Ġcat", "Ġsat"];
// metric: clean 2, corrupted 0; patching block 0 at position 1 restores it all.
const SWEEP = encodeBlob(
  {
    key: "0|1",
    clean: 0,
    corrupted: 1,
    layers: ["h.0", "h.1"],
    site: "input",
    metric: "log p(clean top)",
    clean_value: 2,
    corrupted_value: 0,
    tokens: TOKENS,
  },
  { values: { data: [0, 2, 0, 0.5, 1, Number.NaN], shape: [2, 3] } },
);

function mount(extra: Record<string, unknown> = {}, live = true) {
  const m = panelHost({
    patching_view: null,
    layers_info: [layerInfo("h.0", { kind: "sequence" }), layerInfo("h.1", { kind: "sequence" })],
    ...extra,
  });
  const sent: Request[] = [];
  const panel = new PatchingPanel({
    ...m.host,
    live: () => live,
    send: (msg: Request) => {
      sent.push(msg);
      return true;
    },
  });
  m.root.append(panel.el);
  return { ...m, panel, el: panel.el, sent };
}

describe("PatchingPanel", () => {
  it("says the share of the clean metric restored", () => {
    expect(restored(2, 2, 0)).toBe(1);
    expect(restored(0.5, 2, 0)).toBe(0.25);
    expect(restored(-1, 1, 1)).toBe(-1); // no difference to restore: the metric itself
  });

  it("draws layers × positions with the tokens, NaN left blank", () => {
    const { el } = mount({ patching_view: SWEEP });
    expect(el.dataset.patching).toBe("drawn");
    const cols = Array.from(el.querySelectorAll(".acts-patching-col"), (c) => c.textContent);
    expect(cols).toEqual(["The", "␣cat", "␣sat"]);
    const cells = Array.from(el.querySelectorAll(".acts-patching-cell"), (c) => c.textContent);
    expect(cells).toEqual(["0.00", "1.00", "0.00", "0.25", "0.50", ""]);
    const full = el.querySelector<HTMLElement>(".acts-patching-cell[data-layer='0'][data-position='1']");
    expect(full?.style.background).not.toBe("");
    expect(
      el.querySelector<HTMLElement>(".acts-patching-cell[data-position='2'][data-layer='1']")?.style
        .background,
    ).toBe("");
  });

  it("opens the cell's layer and position on the corrupted input", () => {
    const { el, model } = mount({ patching_view: SWEEP, unit: 4 });
    el.querySelector<HTMLElement>(".acts-patching-cell[data-layer='1'][data-position='2']")?.click();
    expect([model.get("layer"), model.get("position"), model.get("input_index"), model.get("unit")]).toEqual([
      "h.1",
      2,
      1,
      null,
    ]);
  });

  it("runs a sweep of the chosen inputs while a kernel is live", () => {
    const { el, sent } = mount();
    expect(el.dataset.patching).toBe("empty");
    const [clean, corrupted] = Array.from(el.querySelectorAll<HTMLSelectElement>(".acts-patching-pick")) as [
      HTMLSelectElement,
      HTMLSelectElement,
    ];
    corrupted.value = "0";
    corrupted.dispatchEvent(new Event("change"));
    clean.value = "1";
    clean.dispatchEvent(new Event("change"));
    el.querySelector<HTMLButtonElement>("[data-action='patch']")?.click();
    expect(sent).toEqual([{ type: "patch", clean: 1, corrupted: 0, metric: "top_logprob" }]);
    const metric = el.querySelector<HTMLSelectElement>(".acts-patching-metric") as HTMLSelectElement;
    metric.value = "logit_diff";
    metric.dispatchEvent(new Event("change"));
    el.querySelector<HTMLButtonElement>("[data-action='patch']")?.click();
    expect(sent[1]).toEqual({ type: "patch", clean: 1, corrupted: 0, metric: "logit_diff" });
  });

  it("has no Run button to press without a kernel, and still shows a saved sweep", () => {
    const { el } = mount({ patching_view: SWEEP }, false);
    expect(el.querySelector<HTMLButtonElement>("[data-action='patch']")?.disabled).toBe(true);
    expect(el.querySelectorAll(".acts-patching-cell").length).toBe(6);
  });

  it("shows an unreadable sweep as an error in place", () => {
    const { el } = mount({ patching_view: new DataView(new Uint8Array([1, 2, 3]).buffer) });
    expect(el.dataset.patching).toBe("error");
    expect(el.textContent).toContain("could not be read");
  });
});
