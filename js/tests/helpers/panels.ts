// Blobs shaped as the Python panels of predictions make them (outputs, attention, logit lens,
// logit effects), and a host to mount one such panel on its own.
import { Tooltip } from "../../src/components/tooltip";
import { StaticModel } from "../../src/standalone";
import { attentionKey, effectsKey, lensKey, outputsKey } from "../../src/traits";
import { encodeBlob } from "./encode";
import { traits } from "./model";

/** The panel's answer for a model it does not apply to (`UnavailableMeta`). */
export function unavailableBlob(key: string, why: string): DataView {
  return encodeBlob({ key, unavailable: why }, {});
}

/** A classifier's top classes for input `input` (ids and probabilities, best first). */
export function classesBlob(
  input: number,
  ids: number[],
  probs: number[],
  names: Record<string, string>,
  label = "",
): DataView {
  return encodeBlob(
    { key: outputsKey(input), input_index: input, task: "classes", label, names },
    { ids: { data: ids, shape: [ids.length], dtype: "i32" }, probs: { data: probs, shape: [probs.length] } },
  );
}

/** A language model's next tokens: `top[t]` the k (id, probability) pairs at position t. */
export function nextTokensBlob(
  input: number,
  tokens: string[],
  top: [number, number][][],
  names: Record<string, string>,
  nextProb: number[],
  inputIds?: number[],
): DataView {
  const k = top[0]?.length ?? 0;
  const loss = nextProb.map((p) => -Math.log(p));
  return encodeBlob(
    { key: outputsKey(input), input_index: input, task: "next_tokens", label: "", names, tokens },
    {
      ids: { data: top.flat().map(([id]) => id), shape: [tokens.length, k], dtype: "i32" },
      probs: { data: top.flat().map(([, p]) => p), shape: [tokens.length, k] },
      next_prob: { data: nextProb, shape: [tokens.length] },
      loss: { data: loss, shape: [tokens.length] },
      ...(inputIds ? { input_ids: { data: inputIds, shape: [tokens.length], dtype: "i32" as const } } : {}),
    },
  );
}

/** One layer's `(heads, T, T)` patterns: `patterns[h]` a T × T row-major matrix. */
export function attentionBlob(
  input: number,
  layer: string,
  patterns: number[][],
  scores: Record<string, number[]>,
  tokens: string[],
  extra: Record<string, unknown> = {},
): DataView {
  const T = tokens.length;
  return encodeBlob(
    {
      key: attentionKey(input, layer),
      input_index: input,
      layer,
      heads: patterns.length,
      queries: T,
      keys: T,
      scores,
      tokens,
      trimmed: null,
      ...extra,
    },
    { pattern: { data: patterns.flat(), shape: [patterns.length, T, T] } },
  );
}

/** A logit lens: `top[l][t]` the k (id, probability) pairs of layer l at position t; the
 * final prediction of each position is the last layer's top token. */
export function lensBlob(
  input: number,
  layers: string[],
  tokens: string[],
  top: [number, number][][][],
  names: Record<string, string>,
  rank: number[][],
  first = 0,
): DataView {
  const [L, T, k] = [layers.length, tokens.length, top[0]?.[0]?.length ?? 0];
  const cells = top.flat();
  const final = (top[L - 1] ?? []).map((pairs) => pairs[0]?.[0] ?? 0);
  return encodeBlob(
    { key: lensKey(input), input_index: input, layers, tokens, names, first },
    {
      ids: { data: cells.flat().map(([id]) => id), shape: [L, T, k], dtype: "i32" },
      probs: { data: cells.flat().map(([, p]) => p), shape: [L, T, k] },
      token: { data: final, shape: [T], dtype: "i32" },
      token_rank: { data: rank.flat(), shape: [L, T], dtype: "i32" },
      token_prob: { data: rank.flat().map((r) => 1 / (r + 2)), shape: [L, T] },
    },
  );
}

/** A unit's logit effects: promoted and suppressed (id, value) pairs. */
export function effectsBlob(
  layer: string,
  unit: number,
  promoted: [number, number][],
  suppressed: [number, number][],
  names: Record<string, string>,
): DataView {
  const col = (pairs: [number, number][], i: 0 | 1) => pairs.map((p) => p[i]);
  return encodeBlob(
    { key: effectsKey(layer, unit), layer, unit, names },
    {
      promoted: { data: col(promoted, 0), shape: [promoted.length], dtype: "i32" },
      promoted_values: { data: col(promoted, 1), shape: [promoted.length] },
      suppressed: { data: col(suppressed, 0), shape: [suppressed.length], dtype: "i32" },
      suppressed_values: { data: col(suppressed, 1), shape: [suppressed.length] },
    },
  );
}

/** Bytes that are no blob at all. */
export const GARBAGE = new DataView(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]).buffer);

/** A host for one panel: a model with the panels' traits, a tooltip, and a commit count. */
export function panelHost(extra: Record<string, unknown> = {}, offline = false) {
  const model = new StaticModel(
    traits({
      position: null,
      outputs_view: null,
      attention_view: null,
      attention_layers: {},
      head: null,
      head_score: "induction",
      lens_view: null,
      effects_view: null,
      ...extra,
    }),
  );
  const root = document.createElement("div");
  document.body.append(root);
  let commits = 0;
  const state = { offline, dark: false };
  const tooltip = new Tooltip(root);
  const host = {
    model,
    tooltip,
    on: (event: string, fn: () => void) => model.on(event, fn),
    isDark: () => state.dark,
    offline: () => state.offline,
    commit: () => {
      commits++;
    },
    layerInfo: () => undefined,
  };
  return { model, root, host, tooltip, state, commits: () => commits };
}

/** Move the mouse over `el` at (x, y) CSS pixels from its top left (happy-dom lays out at 0). */
export function hover(el: Element, x = 0, y = 0): void {
  el.dispatchEvent(new MouseEvent("mousemove", { clientX: x, clientY: y, bubbles: true }));
}
