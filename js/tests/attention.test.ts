// @vitest-environment happy-dom
// The attention panel on its own: the layer it shows, heads ranked by a score, the selected
// head large with its tokens, and why it has nothing to draw.
import { afterEach, describe, expect, it } from "vitest";
import { AttentionPanel, headOrder } from "../src/panels/attention";
import { encodeBlob } from "./helpers/encode";
import { attentionBlob, GARBAGE, hover, panelHost, unavailableBlob } from "./helpers/panels";

const TOKENS = ["The", "Ġcat", "Ċ"];
// Three causal heads: 0 attends to the previous token, 1 to the first, 2 to itself.
const PATTERNS = [
  [1, 0, 0, 1, 0, 0, 0, 1, 0],
  [1, 0, 0, 1, 0, 0, 1, 0, 0],
  [1, 0, 0, 0, 1, 0, 0, 0, 1],
];
const SCORES = {
  previous_token: [0.9, 0.2, 0.1],
  induction: [0.1, 0.3, 0.6],
  first_token: [0.4, 0.95, 0.2],
  entropy: [0.5, 0.1, 0.3],
};
const LAYERS = { a: "h.0.attn", b: "h.0.attn", "h.0.attn": "h.0.attn" };
const BLOB = attentionBlob(0, "h.0.attn", PATTERNS, SCORES, TOKENS);

function mount(extra: Record<string, unknown> = {}, offline = false) {
  const m = panelHost({ attention_layers: LAYERS, ...extra }, offline);
  const panel = new AttentionPanel(m.host);
  m.root.append(panel.el);
  const el = panel.el;
  const heads = () =>
    Array.from(el.querySelectorAll<HTMLElement>(".acts-attention-head")).map((e) => e.dataset.head);
  const big = () => el.querySelector<HTMLElement>(".acts-attention-big")?.dataset.head;
  return { ...m, panel, el, heads, big };
}

afterEach(() => document.body.replaceChildren());

describe("headOrder", () => {
  it("ranks heads highest first, entropy lowest first, NaN last, ties to the lower index", () => {
    expect(headOrder([0.1, 0.9, 0.5], 3, "induction")).toEqual([1, 2, 0]);
    expect(headOrder([0.1, 0.9, 0.5], 3, "entropy")).toEqual([0, 2, 1]);
    expect(headOrder([Number.NaN, 0.2, 0.2, 0.7], 4, "previous_token")).toEqual([3, 1, 2, 0]);
    expect(headOrder([Number.NaN, 0.2, 0.2, 0.7], 4, "entropy")).toEqual([1, 2, 3, 0]);
    expect(headOrder(undefined, 2, "first_token")).toEqual([0, 1]);
  });
});

describe("AttentionPanel", () => {
  it("draws the attention layer shown for the selected layer, one canvas a head, by score", () => {
    const { model, el, heads, big } = mount();
    model.set("attention_view", attentionBlob(0, "a", PATTERNS, SCORES, TOKENS)); // not the key
    expect(el.dataset.attention).toBe("loading");
    expect(heads()).toEqual([]);
    model.set("attention_view", BLOB);
    expect(el.dataset.attention).toBe("drawn");
    expect(el.dataset.key).toBe("0|h.0.attn");
    expect(el.querySelector(".acts-layer-name")?.textContent).toBe("h.0.attn");
    expect(heads()).toEqual(["2", "1", "0"]); // by induction, the default score
    expect(el.querySelectorAll(".acts-attention-head canvas").length).toBe(3);
    expect(el.querySelector(".acts-attention-head .acts-attention-label")?.textContent).toBe("head 2 · 0.6");
    expect(big()).toBe("2"); // no head selected: the top-ranked
    expect(el.querySelector(".acts-attention-head.acts-on")?.getAttribute("data-head")).toBe("2");
  });

  it("re-ranks by the chosen score (entropy: lowest first) and writes it", () => {
    const { model, el, heads, commits } = mount({ attention_view: BLOB });
    model.set("head_score", "first_token");
    expect(heads()).toEqual(["1", "0", "2"]);
    model.set("head_score", "entropy");
    expect(heads()).toEqual(["1", "2", "0"]);
    const select = el.querySelector<HTMLSelectElement>(
      "select[aria-label='Rank heads by']",
    ) as HTMLSelectElement;
    expect(select.value).toBe("entropy");
    select.value = "previous_token";
    select.dispatchEvent(new Event("change"));
    expect(model.get("head_score")).toBe("previous_token");
    expect(commits()).toBe(1);
    expect(heads()).toEqual(["0", "1", "2"]);
  });

  it("selects a head by click and draws it large with its tokens on both axes", () => {
    const { model, el, big, commits, tooltip } = mount({ attention_view: BLOB });
    el.querySelector<HTMLElement>(".acts-attention-head[data-head='0']")?.click();
    expect(model.get("head")).toBe(0);
    expect(commits()).toBe(1);
    expect(big()).toBe("0");
    const ticks = (sel: string) =>
      Array.from(el.querySelectorAll(`${sel} .acts-attention-tick`)).map((t) => t.textContent);
    expect(ticks(".acts-attention-cols")).toEqual(["The", "␣cat", "⏎"]);
    expect(ticks(".acts-attention-rows")).toEqual(["The", "␣cat", "⏎"]);
    const map = el.querySelector(".acts-attention-map") as HTMLElement;
    expect(map.style.width).toBe("60px"); // 3 keys, 20 px a cell
    hover(map, 5, 45); // query 2, key 0
    expect(tooltip.el.textContent).toBe("head 0 · query 2 → key 0\n“⏎” → “The”: 0");
    hover(map, 25, 45); // key 1: the previous token
    expect(tooltip.el.textContent).toBe("head 0 · query 2 → key 1\n“⏎” → “␣cat”: 1");
    model.set("head", 7); // a head this layer does not have: the top-ranked
    expect(big()).toBe("2");
  });

  it("shows the note of a trimmed pattern", () => {
    const trimmed = { shown: [3], note: "Showing the first 3 of 900 positions." };
    const { el } = mount({
      attention_view: attentionBlob(0, "h.0.attn", PATTERNS, SCORES, TOKENS, { trimmed }),
    });
    expect(el.querySelector(".acts-note")?.textContent).toBe("Showing the first 3 of 900 positions.");
  });

  it("collapses to one quiet line for a model with no attention", () => {
    const { model, el } = mount({ attention_layers: {} });
    expect(el.dataset.attention).toBe("unavailable");
    expect(el.querySelector(".acts-quiet-line .acts-hint")?.textContent).toBe(
      "This model has no layer that looks like attention.",
    );
    model.set("attention_view", unavailableBlob("0|a", "No attention in this model (checked 12 layers)."));
    expect(el.querySelector(".acts-quiet-line .acts-hint")?.textContent).toBe(
      "No attention in this model (checked 12 layers).",
    );
    expect(el.querySelector(".acts-attention-grid")).toBeNull();
  });

  it("says quietly when the shown layer outputs no pattern", () => {
    const { model, el } = mount();
    model.set("attention_view", unavailableBlob("0|h.0.attn", "h.0.attn returned no attention weights."));
    expect(el.dataset.attention).toBe("unavailable");
    expect(el.classList.contains("acts-quiet")).toBe(true);
    expect(el.textContent).toBe("Attentionh.0.attn returned no attention weights.");
  });

  it("shows an unreadable blob as an error in place, and draws the next good one", () => {
    const { model, el, heads } = mount();
    model.set("attention_view", GARBAGE);
    expect(el.dataset.attention).toBe("error");
    expect(el.querySelector(".acts-saliency-error")?.textContent).toMatch(
      /^The attention patterns sent by Python could not be read/,
    );
    model.set("attention_view", BLOB);
    expect(el.dataset.attention).toBe("drawn");
    expect(heads().length).toBe(3);
  });

  it("looks up a snapshot's pattern offline, and says which were not saved", () => {
    const { model, el, panel, heads } = mount({}, true);
    panel.loadSnapshot(new Map([["1|h.0.attn", attentionBlob(1, "h.0.attn", PATTERNS, SCORES, TOKENS)]]));
    panel.show();
    expect(el.dataset.attention).toBe("missing");
    expect(el.querySelector(".acts-hint")?.textContent).toBe(
      "not saved in this snapshot: re-run the notebook, or include this input and layer in ex.snapshot(...)",
    );
    model.set("input_index", 1);
    panel.show();
    expect(el.dataset.attention).toBe("drawn");
    expect(heads()).toEqual(["2", "1", "0"]);
    model.set("layer", "b"); // shows the same attention layer
    panel.show();
    expect(el.dataset.key).toBe("1|h.0.attn");
  });

  it("says it is computing while a kernel may still answer", () => {
    const { el } = mount();
    expect(el.dataset.attention).toBe("loading");
    expect(el.querySelector(".acts-hint")?.textContent).toBe("computing…");
  });

  it("colours the text by what the selected query attends to; a click picks the query", () => {
    const { model, el, commits } = mount({ attention_view: BLOB, head: 1 });
    const keys = () => Array.from(el.querySelectorAll<HTMLElement>(".acts-attention-key"));
    const line = () => el.querySelector<HTMLElement>(".acts-attention-text");
    expect(line()?.dataset.query).toBe("2"); // no position: the last query
    expect(keys().map((k) => k.textContent)).toEqual(["The", " cat", "⏎"]);
    // Head 1 sends query 2 to the first token only: that key alone is coloured.
    const [first, second] = keys();
    expect(first?.style.background).not.toBe(second?.style.background);
    expect(keys()[2]?.classList.contains("acts-on")).toBe(true);
    keys()[1]?.click();
    expect(model.get("position")).toBe(1);
    expect(commits()).toBe(1);
    expect(line()?.dataset.query).toBe("1"); // the panel follows the shared position
    expect(el.querySelector(".acts-attention-attends .acts-detail-title")?.textContent).toBe(
      "What “␣cat” (position 1) attends to in head 1",
    );
  });

  it("draws a long pattern's window of queries at their positions and moves it", () => {
    const tokens = ["a", "b", "c", "d", "e", "f"];
    const rows = [2, 3].map((q) => tokens.map((_, k) => (k === q - 1 ? 1 : 0))); // previous token
    const blob = encodeBlob(
      {
        key: "0|h.0.attn",
        input_index: 0,
        layer: "h.0.attn",
        heads: 1,
        queries: 6,
        keys: 6,
        scores: { previous_token: [1], induction: [0], first_token: [0], entropy: [0] },
        tokens,
        trimmed: { shown: [1, 2, 6], note: "queries 2–3 of 6 are shown" },
        window: { start: 2, stop: 4, positions: 6 },
      },
      { pattern: { data: rows.flat(), shape: [1, 2, 6] } },
    );
    const { model, el, commits } = mount({ attention_view: blob, head: 0 });
    const bar = el.querySelector<HTMLElement>(".acts-overview-bar");
    expect(bar?.textContent).toContain("Queries 2–3 of 6, every key.");
    const line = () => el.querySelector<HTMLElement>(".acts-attention-text");
    expect(line()?.dataset.query).toBe("3"); // the window's last query, at its own position
    const on = el.querySelector<HTMLElement>(".acts-attention-key.acts-on");
    expect(on?.dataset.position).toBe("3");
    const ticks = Array.from(el.querySelectorAll<HTMLElement>(".acts-attention-rows .acts-attention-tick"));
    expect(ticks.map((t) => t.title)).toEqual(["query 2: c", "query 3: d"]);
    // what query 3 attends to: key 2, the previous token, and nothing else
    const keys = Array.from(el.querySelectorAll<HTMLElement>(".acts-attention-key"));
    expect(keys[2]?.title).toBe("key 2: 1 (click: make it the query)");
    expect(keys[3]?.title).toBe("key 3: 0 (click: make it the query)");
    el.querySelector<HTMLButtonElement>("[data-attention-step='later']")?.click();
    expect(model.get("attention_start")).toBe(4);
    expect(commits()).toBe(1);
    model.set("position", 2); // inside the window: it stays
    expect(model.get("attention_start")).toBe(4);
    model.set("position", 0); // outside: the window moves there
    expect(model.get("attention_start")).toBe(0);
  });

  it("draws a long pattern's overview: every query in the thumbnails, the window marked", () => {
    // 2 heads × 8 queries × 8 keys, queries 2–3 exact; tiles of 2 × 2 (4 × 4 a head)
    const window = [2, 3].map((q) => Array.from({ length: 8 }, (_, k) => (k === q ? 1 : 0)));
    const tile = (head: number) => Array.from({ length: 16 }, (_, i) => (head === 1 && i === 15 ? 0.9 : 0.1));
    const meta = {
      key: "0|h.0.attn",
      input_index: 0,
      layer: "h.0.attn",
      heads: 2,
      queries: 8,
      keys: 8,
      scores: { previous_token: [0, 1], induction: [0, 1], first_token: [0, 0], entropy: [0, 0] },
      trimmed: { shown: [2, 2, 8], note: "queries 2–3 of 8 are shown" },
      window: { start: 2, stop: 4, positions: 8 },
      overview: { rows: 4, cols: 4, tile_rows: 2, tile_cols: 2 },
    };
    const arrays = {
      pattern: { data: [...window.flat(), ...window.flat()], shape: [2, 2, 8] },
      overview: { data: [...tile(0), ...tile(1)], shape: [2, 4, 4] },
    };
    for (const offline of [false, true]) {
      const { model, el, root, commits } = mount({ attention_view: encodeBlob(meta, arrays) }, offline);
      const thumbs = Array.from(el.querySelectorAll<HTMLCanvasElement>(".acts-attention-thumb"));
      expect(thumbs.map((c) => [c.width, c.height])).toEqual([
        [4, 4],
        [4, 4],
      ]); // the tiles of every query, not the window's 2 × 8
      expect(thumbs[0]?.style.height).toBe("64px");
      const strip = el.querySelector<HTMLElement>(".acts-attention-overview");
      expect(strip?.dataset.head).toBe("1"); // the top-ranked head's tiles
      const mark = strip?.querySelector<HTMLElement>(".acts-overview-mark");
      expect([mark?.style.top, mark?.style.height]).toEqual(["25%", "25%"]);
      const canvas = strip?.querySelector("canvas") as HTMLCanvasElement;
      hover(canvas, 1000, 1000); // the last tile: queries 6–7, keys 6–7
      const tip = root.querySelector(".acts-tooltip")?.textContent ?? "";
      expect(tip).toContain("head 1 · queries 6–7");
      expect(tip).toContain("keys 6–7");
      expect(tip).toContain("largest probability 0.9");
      canvas.dispatchEvent(new MouseEvent("click", { clientX: 0, clientY: 1000, bubbles: true }));
      if (offline) {
        expect([model.get("attention_start"), commits()]).toEqual([undefined, 0]); // nothing asked
        expect(strip?.textContent).toContain("This page saved queries 2–3 exactly; query 7");
      } else {
        expect(model.get("attention_start")).toBe(6); // the last window, ending at query 7
        expect(commits()).toBe(1);
      }
      document.body.replaceChildren();
    }
  });
});
