// @vitest-environment happy-dom
// The outputs panel on its own: a classifier's ranked classes, a language model's text
// coloured by loss with the next tokens at the selected position, and why it has nothing.
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { readableToken } from "../src/dom";
import { AttentionPanel } from "../src/panels/attention";
import { EffectsPanel } from "../src/panels/effects";
import { LensPanel } from "../src/panels/lens";
import { OutputsPanel, pct } from "../src/panels/outputs";
import { decode } from "../src/wire";
import { encodeBlob, errorBlob, snapshotBlob } from "./helpers/encode";
import {
  attentionBlob,
  classesBlob,
  effectsBlob,
  GARBAGE,
  hover,
  lensBlob,
  nextTokensBlob,
  panelHost,
  unavailableBlob,
} from "./helpers/panels";

function mount(extra: Record<string, unknown> = {}, offline = false) {
  const m = panelHost(extra, offline);
  const panel = new OutputsPanel(m.host);
  m.root.append(panel.el);
  const el = panel.el;
  const text = (sel: string) => Array.from(el.querySelectorAll(sel)).map((e) => e.textContent);
  return { ...m, panel, el, text };
}

const CLASSES = classesBlob(0, [3, 1, 7], [0.7, 0.2, 0.05], { 3: "cat", 1: "dog", 7: "<b>owl</b>" }, "dog");

// "The cat sat\n" then "on": the model's top-2 at each position.
const TOKENS = ["The", "Ġcat", "Ġsat", "Ċ", "on"];
const NAMES = { 10: "Ġcat", 11: "Ġdog", 12: "Ġsat", 13: "Ċ", 14: "on", 15: "Ġthe" };
const LM = nextTokensBlob(
  0,
  TOKENS,
  [
    [
      [11, 0.5],
      [15, 0.2],
    ],
    [
      [12, 0.6],
      [15, 0.1],
    ],
    [
      [15, 0.4],
      [13, 0.2],
    ],
    [
      [14, 0.9],
      [15, 0.05],
    ],
    [
      [15, 0.7],
      [11, 0.1],
    ],
  ],
  NAMES,
  [0.3, 0.6, 0.2, 0.9, Number.NaN],
);

afterEach(() => document.body.replaceChildren());

describe("readableToken", () => {
  it("shows byte-level spaces and newlines", () => {
    expect(readableToken("Ġcat")).toBe("␣cat");
    expect(readableToken("Ġcat", true)).toBe(" cat");
    expect(readableToken("ĊĊ")).toBe("⏎⏎");
    expect(readableToken("▁over")).toBe("␣over");
    expect(readableToken("plain")).toBe("plain");
  });

  it("writes probabilities as percentages", () => {
    expect(pct(0.7)).toBe("70.0%");
    expect(pct(0.05)).toBe("5.00%");
    expect(pct(0.0003)).toBe("0.030%");
    expect(pct(Number.NaN)).toBe("—");
  });
});

describe("OutputsPanel: classes", () => {
  it("ranks the classes with their probabilities and marks the label", () => {
    const { model, el, text } = mount();
    model.set("outputs_view", CLASSES);
    expect(el.dataset.outputs).toBe("drawn");
    expect(el.dataset.key).toBe("0");
    expect(text(".acts-barlist-name")).toEqual(["cat", "dog", "<b>owl</b>"]);
    expect(el.querySelector("b")).toBeNull(); // names are text
    expect(text(".acts-barlist-value")).toEqual(["70.0%", "20.0%", "5.00%"]);
    const marked = el.querySelectorAll(".acts-barlist-row.acts-marked");
    expect(marked.length).toBe(1);
    expect(marked[0]?.querySelector(".acts-barlist-name")?.textContent).toBe("dog");
    const bars = Array.from(el.querySelectorAll<HTMLElement>(".acts-barlist-fill")).map((b) => b.style.width);
    expect(bars[0]).toBe("100%");
    expect(Number.parseFloat(bars[1] ?? "")).toBeCloseTo((100 * 0.2) / 0.7, 3);
  });

  it("says when the label is not among the top classes", () => {
    const { model, el } = mount();
    model.set("outputs_view", classesBlob(0, [3], [0.9], { 3: "cat" }, "zebra"));
    expect(el.querySelector(".acts-barlist-row.acts-marked")).toBeNull();
    expect(el.querySelector(".acts-hint")?.textContent).toBe("label “zebra” is not among the top 1");
  });

  it("ignores an answer for another input, and draws once the input is selected", () => {
    const { model, el, panel } = mount();
    model.set("outputs_view", classesBlob(1, [3], [0.9], { 3: "cat" }));
    expect(el.dataset.outputs).toBe("loading");
    expect(el.querySelector(".acts-barlist")).toBeNull();
    expect(el.querySelector(".acts-hint")?.textContent).toBe("computing…");
    model.set("input_index", 1);
    panel.show(); // the explorer does on an input change
    expect(el.dataset.outputs).toBe("drawn");
    expect(el.dataset.key).toBe("1");
  });
});

describe("OutputsPanel: next tokens", () => {
  it("draws the text as chips coloured by the loss of the next token", () => {
    const { model, el, text } = mount({ outputs_view: LM });
    expect(el.dataset.outputs).toBe("drawn");
    expect(text(".acts-outputs-token")).toEqual(["The", " cat", " sat", "⏎", "on"]);
    expect(el.querySelectorAll(".acts-outputs-text br").length).toBe(1); // after the newline
    const chips = Array.from(el.querySelectorAll<HTMLElement>(".acts-outputs-token"));
    expect(chips.map((c) => c.dataset.position)).toEqual(["0", "1", "2", "3", "4"]);
    // the highest loss (p 0.2 at position 2) is the most intense colour; the last has none
    expect(chips[2]?.style.background).not.toBe(chips[3]?.style.background);
    expect(chips[4]?.style.background).toBe("");
    expect(chips[4]?.classList.contains("acts-outputs-none")).toBe(true);
    const mean = (-Math.log(0.3) - Math.log(0.6) - Math.log(0.2) - Math.log(0.9)) / 4;
    expect(el.querySelector(".acts-outputs-summary")?.textContent).toMatch(
      new RegExp(`^mean loss ${mean.toPrecision(4)} over 4 tokens`),
    );
    expect(el.querySelector(".acts-outputs-legend")?.textContent).toMatch(/^loss of the next token/);
    expect(model.get("position")).toBeNull();
  });

  it("shows the last position's next tokens until a chip is clicked", () => {
    const { model, el, panel, commits, text } = mount({ outputs_view: LM });
    const top = () => el.querySelector<HTMLElement>(".acts-outputs-top");
    expect(top()?.dataset.position).toBe("4");
    expect(el.querySelector(".acts-outputs-token.acts-on")?.getAttribute("data-position")).toBe("4");
    expect(text(".acts-outputs-top .acts-barlist-name")).toEqual(["␣the", "␣dog"]);
    expect(el.querySelector(".acts-outputs-top .acts-marked")).toBeNull(); // nothing follows
    el.querySelector<HTMLElement>(".acts-outputs-token[data-position='1']")?.click();
    expect(model.get("position")).toBe(1);
    expect(commits()).toBe(1);
    panel.show(); // the explorer does on a position change
    expect(top()?.dataset.position).toBe("1");
    expect(top()?.querySelector(".acts-detail-title")?.textContent).toBe(
      "Top 2 next tokens after “␣cat” (position 1)",
    );
    const marked = top()?.querySelectorAll(".acts-marked");
    expect(marked?.length).toBe(1); // "Ġsat" follows "Ġcat"
    expect(marked?.[0]?.querySelector(".acts-barlist-name")?.textContent).toBe("␣sat");
    expect(marked?.[0]?.querySelector(".acts-barlist-mark")?.textContent).toBe("next");
  });

  it("marks the following token by its id when the blob has the input's ids", () => {
    // Two tokens can read alike: the ids say that id 15 follows position 1, not id 12.
    const tops = [0, 1, 2, 3, 4].map((p): [number, number][] => [
      [12, 0.5],
      [15, 0.3 + p / 100],
    ]);
    const blob = nextTokensBlob(
      0,
      TOKENS,
      tops,
      NAMES,
      [0.3, 0.6, 0.2, 0.9, Number.NaN],
      [9, 10, 15, 13, 14],
    );
    const { model, el, panel } = mount({ outputs_view: blob });
    model.set("position", 1);
    panel.show();
    const marked = el.querySelectorAll(".acts-outputs-top .acts-marked .acts-barlist-name");
    expect(Array.from(marked, (m) => m.textContent)).toEqual(["␣the"]);
  });

  it("keeps the text where it was scrolled when another position is picked", () => {
    const { el, panel } = mount({ outputs_view: LM });
    const line = () => el.querySelector(".acts-outputs-text") as HTMLElement;
    const before = line();
    before.scrollTop = 37;
    el.querySelector<HTMLElement>(".acts-outputs-token[data-position='2']")?.click();
    panel.show();
    expect(line()).not.toBe(before); // drawn again
    expect(line().scrollTop).toBe(37);
  });

  it("says when the actual next token is not in the top k", () => {
    const { el } = mount({ outputs_view: LM, position: 2 });
    expect(el.querySelector(".acts-outputs-top .acts-marked")).not.toBeNull(); // Ċ is 2nd
    const far = mount({ outputs_view: LM, position: 0 });
    expect(far.el.querySelector(".acts-outputs-top .acts-hint")?.textContent).toBe(
      "the actual next token “␣cat” is not among them (p 30.0%)",
    );
  });

  it("treats a position beyond the text as the last one", () => {
    const { el } = mount({ outputs_view: LM, position: 40 });
    expect(el.querySelector<HTMLElement>(".acts-outputs-top")?.dataset.position).toBe("4");
  });

  it("tells the next token's probability and loss on hover", () => {
    const { el, tooltip } = mount({ outputs_view: LM });
    hover(el.querySelector(".acts-outputs-token[data-position='1']") as Element);
    expect(tooltip.el.textContent).toBe(
      `token 1 “␣cat”\nnext “␣sat”: p 60.0%\nloss ${(-Math.log(0.6)).toPrecision(4)}`,
    );
    hover(el.querySelector(".acts-outputs-token[data-position='4']") as Element);
    expect(tooltip.el.textContent).toBe("token 4 “on”\nthe last token: nothing follows");
  });

  it("reports its task (the saliency panel offers the next token for a language model)", () => {
    expect(mount({ outputs_view: LM }).panel.task()).toBe("next_tokens");
    expect(mount({ outputs_view: CLASSES }).panel.task()).toBe("classes");
    expect(mount().panel.task()).toBe("");
    const { model, panel } = mount({ outputs_view: LM });
    model.set("input_index", 1); // nothing for this input yet: still a language model
    panel.show();
    expect(panel.task()).toBe("next_tokens");
  });
});

describe("OutputsPanel: nothing to draw", () => {
  it("says quietly, in one line, when the model predicts nothing it can show", () => {
    const { model, el } = mount();
    model.set("outputs_view", unavailableBlob("0", "The model outputs (1, 5, 768), hidden states."));
    expect(el.dataset.outputs).toBe("unavailable");
    expect(el.classList.contains("acts-quiet")).toBe(true);
    expect(el.querySelectorAll(".acts-quiet-line").length).toBe(1);
    expect(el.querySelector(".acts-quiet-line .acts-hint")?.textContent).toBe(
      "The model outputs (1, 5, 768), hidden states.",
    );
    expect(el.querySelector(".acts-saliency-error")).toBeNull();
  });

  it("shows a blob it cannot read as an error, and draws the next good one", () => {
    const { model, el } = mount();
    model.set("outputs_view", GARBAGE);
    expect(el.dataset.outputs).toBe("error");
    expect(el.querySelector(".acts-saliency-error")?.textContent).toMatch(
      /^The outputs sent by Python could not be read: not an actscope blob/,
    );
    model.set("outputs_view", errorBlob("0", "CUDA out of memory"));
    expect(el.querySelector(".acts-saliency-error")?.textContent).toBe("CUDA out of memory");
    model.set("outputs_view", CLASSES);
    expect(el.dataset.outputs).toBe("drawn");
    expect(el.querySelector(".acts-saliency-error")).toBeNull();
    expect(el.classList.contains("acts-quiet")).toBe(false);
  });

  it("draws a snapshot's outputs offline, and says which were not saved", () => {
    const { model, el, panel } = mount({ outputs_view: CLASSES }, true);
    panel.loadSnapshot(new Map([["1", LM]]));
    model.set("input_index", 1);
    panel.show();
    expect(el.dataset.outputs).toBe("drawn");
    expect(el.querySelectorAll(".acts-outputs-token").length).toBe(5);
    model.set("input_index", 2);
    panel.show();
    expect(el.dataset.outputs).toBe("missing");
    expect(el.querySelector(".acts-hint")?.textContent).toBe(
      "not saved in this snapshot: re-run the notebook, or include this input in ex.snapshot(...)",
    );
    model.set("input_index", 0); // the trait's own answer still counts
    panel.show();
    expect(el.dataset.outputs).toBe("drawn");
  });

  it("lets the last 'unavailable' speak for the model offline when nothing was saved", () => {
    const { model, el, panel } = mount({ outputs_view: unavailableBlob("0", "An encoder.") }, true);
    model.set("input_index", 1);
    panel.show();
    expect(el.dataset.outputs).toBe("unavailable");
    panel.loadSnapshot(new Map([["0", CLASSES]])); // once something was saved, not any more
    panel.show();
    expect(el.dataset.outputs).toBe("missing");
  });

  it("is hidden in a page saved before the panel existed", () => {
    const { el } = mount({ outputs_view: undefined });
    expect(el.style.display).toBe("none");
    expect(el.dataset.outputs).toBe("");
  });

  it("reads its entries out of a real snapshot container", async () => {
    const { decodeSnapshot } = await import("../src/snapshot");
    const snap = await decodeSnapshot(snapshotBlob([["outputs|1", LM]]));
    const { model, el, panel } = mount({}, true);
    panel.loadSnapshot(snap.outputs);
    model.set("input_index", 1);
    panel.show();
    expect(el.dataset.outputs).toBe("drawn");
  });
});

describe("fuzzing the prediction panels", () => {
  // Each panel with a good blob for the selection (input 0, layer "a", unit 1).
  const cases = [
    { trait: "outputs_view", attr: "outputs", make: OutputsPanel, good: LM },
    {
      trait: "attention_view",
      attr: "attention",
      make: AttentionPanel,
      good: attentionBlob(0, "a", [[1, 0, 0, 1]], { induction: [0.5] }, ["x", "y"]),
    },
    {
      trait: "lens_view",
      attr: "lens",
      make: LensPanel,
      good: lensBlob(0, ["h.0"], ["x"], [[[[1, 0.5]]]], { 1: "x" }, [[0]]),
    },
    {
      trait: "effects_view",
      attr: "effects",
      make: EffectsPanel,
      good: effectsBlob("a", 1, [[1, 1]], [[2, -1]], {}),
    },
  ] as const;
  const bytes = (v: DataView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
  /** A good blob damaged (bytes overwritten, cut short), or its meta's fields replaced by
   * anything at all under the same key, with the same arrays. */
  const blob = (good: DataView) =>
    fc.oneof(
      fc
        .record({
          cut: fc.option(fc.nat(), { nil: undefined }),
          writes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        })
        .map(({ cut, writes }) => {
          let b = bytes(good);
          for (const [at, value] of writes) b[at % b.length] = value;
          if (cut !== undefined) b = b.slice(0, cut % (b.length + 1));
          return new DataView(b.buffer);
        }),
      fc
        .dictionary(
          fc.constantFrom("names", "tokens", "task", "scores", "layers", "heads", "trimmed", "unit", "label"),
          fc.anything(),
        )
        .map((fields) => {
          const d = decode<Record<string, unknown>>(good);
          const arrays = Object.fromEntries(
            [...d.arrays].map(([name, a]) => [
              name,
              {
                data: Array.from(a),
                shape: d.shapes.get(name) ?? [],
                dtype: a instanceof Int32Array ? ("i32" as const) : undefined,
              },
            ]),
          );
          return encodeBlob({ ...d.meta, ...fields, key: d.meta.key }, arrays);
        }),
    );

  for (const c of cases) {
    it(`${c.attr}: shows any blob drawn or as an error in place, and keeps working`, () => {
      fc.assert(
        fc.property(blob(c.good), (bad) => {
          const m = panelHost({ unit: 1, attention_layers: { a: "a" } });
          const panel = new c.make(m.host);
          m.model.set(c.trait, bad); // must not throw
          expect(["drawn", "error", "unavailable", "loading"]).toContain(panel.el.dataset[c.attr]);
          m.model.set(c.trait, c.good);
          expect(panel.el.dataset[c.attr]).toBe("drawn");
          m.root.remove();
        }),
        { numRuns: 60 },
      );
    });
  }
});
