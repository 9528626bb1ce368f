// Generated from src/actscope/widget/contract/ by `python -m actscope.widget.typescript`.
// Do not edit: change the contract, then regenerate (tests/test_contract.py checks it).

import type { ExampleContext, Kind, PatchMetric, PredictionTask, SaliencyMethod, SaliencyOver } from "./enums";

/** A blob that answers ``key`` with an error instead of data (any panel). */
export interface ErrorMeta {
  key: string;
  edits?: string;
  error: string;
}

/** A layer view that failed (the forward pass raised, the layer returned no tensor). */
export interface LayerViewErrorMeta extends ErrorMeta {
  layer: string;
  input_index: number;
}

/** NaN and ±Inf counts and the finite range of an array. */
export interface ValueSummary {
  nan: number;
  posinf: number;
  neginf: number;
  min: number;
  max: number;
}

export interface Trimmed {
  shown: number[];
  note: string;
}

/** How sparse a layer view is: its active (non-zero) values and their fraction. */
export interface SparseView {
  active: number;
  density: number;
}

/** The positions ``[start, stop)`` of ``positions`` a windowed sequence view holds exactly (``widget/window.py``); ``unit``: whose value at every position is ``column``. A windowed spatial view counts channels instead: ``column`` is ``unit``'s whole map (absent when the window holds that channel). */
export interface ViewWindow {
  start: number;
  stop: number;
  positions: number;
  unit?: number;
  clip?: number;
}

/** The ``overview`` array: ``rows × cols`` tiles of ``tile_rows × tile_cols`` values, each its value of largest magnitude with the sign (NaN if it holds one). */
export interface OverviewMeta {
  rows: number;
  cols: number;
  tile_rows: number;
  tile_cols: number;
}

/** One layer of one input (``panels/layer_view.py``). Arrays: :data:`LayerViewArray`. */
export interface LayerViewMeta extends ValueSummary {
  key: string;
  edits?: string;
  layer: string;
  input_index: number;
  kind: Kind;
  shape: number[];
  layer_shape: number[];
  unit_axis: number | null;
  n_units: number;
  trimmed: Trimmed | null;
  explained?: number;
  sparse?: SparseView;
  tokens?: string[];
  window?: ViewWindow;
  overview?: OverviewMeta;
}

/** One saliency map (``panels/saliency.py``). Arrays: ``map`` and, over pixels, ``image``. */
export interface SaliencyViewMeta extends ValueSummary {
  key: string;
  edits?: string;
  input_index: number;
  method: SaliencyMethod;
  target: string;
  over: SaliencyOver;
  delta: number | null;
  tokens?: string[];
}

export interface UnitSummaryMeta {
  max: number | null;
  median: number | null;
  lowest: number | null;
  active_fraction: number | null;
  active_example_fraction: number | null;
  n_examples: number;
  positions: number;
  nan_examples: number;
}

export interface BandMeta {
  lower_q: number;
  upper_q: number;
  lower: number | null;
  upper: number | null;
  sampled: number;
}

/** One dataset example; its values in context are the array ``<group><n>``. */
export interface ExampleRow {
  id: number;
  value: number | null;
  position: number | null;
  context?: ExampleContext;
  tokens?: string[];
  peak?: number | number[];
  start?: number;
  box?: number[];
}

/** A unit's dataset examples (``panels/examples.py``). Arrays: ``hist_edges``, ``hist_counts``, and ``top<n>`` / ``band<n>`` per row with a context. */
export interface ExamplesViewMeta {
  key: string;
  layer: string;
  unit: number;
  band: number;
  summary: UnitSummaryMeta;
  bands: BandMeta[];
  top: ExampleRow[];
  band_rows?: ExampleRow[];
  has_context: boolean;
}

/** The answer for a unit of a layer that no index covers. */
export interface ExamplesMissingMeta {
  key: string;
  layer: string;
  unit: number;
  missing: true;
  can_mine: boolean;
  mined: string[];
}

/** The answer of a panel that does not apply (an encoder has no next-token predictions, a layer outputs no attention pattern): the panel says why, quietly. */
export interface UnavailableMeta {
  key: string;
  edits?: string;
  unavailable: string;
}

/** What the model predicts for one input (``panels/outputs.py``). Arrays: ``ids`` and ``probs``, ``(k,)`` classes or ``(tokens, k)`` next tokens; for a language model also ``next_prob`` and ``loss`` ``(tokens,)``, of the token that actually follows (NaN at the last position), and ``input_ids`` ``(tokens,)``, the input's own token ids. With edits, the clean run's ``clean_probs`` of the same ids and (a language model) ``clean_loss``. */
export interface OutputsViewMeta {
  key: string;
  edits?: string;
  input_index: number;
  task: PredictionTask;
  label: string;
  names: Record<string, string>;
  tokens?: string[];
}

/** One attention layer's patterns for one input (``panels/attention.py``). Arrays: ``pattern`` ``(heads, queries, keys)``, one byte a probability; ``overview`` with ``overview``. */
export interface AttentionViewMeta {
  key: string;
  edits?: string;
  input_index: number;
  layer: string;
  heads: number;
  queries: number;
  keys: number;
  scores: Record<string, number[]>;
  tokens?: string[];
  trimmed: Trimmed | null;
  window?: ViewWindow;
  overview?: OverviewMeta;
}

/** The logit lens of one input (``panels/lens.py``). Arrays: ``ids`` and ``probs`` ``(layers, tokens, k)``; ``token`` ``(tokens,)`` the token followed, and its ``token_rank`` and ``token_prob`` ``(layers, tokens)``. */
export interface LensViewMeta {
  key: string;
  edits?: string;
  input_index: number;
  layers: string[];
  tokens: string[];
  first: number;
  names: Record<string, string>;
}

/** What a unit writes to the logits (``panels/effects.py``). Arrays: ``promoted``, ``promoted_values``, ``suppressed``, ``suppressed_values`` ``(k,)``. */
export interface EffectsViewMeta {
  key: string;
  layer: string;
  unit: number;
  names: Record<string, string>;
}

/** The units most specific to a group of inputs (``panels/specific.py``): the group mean of each input's maximum minus the mean over the explorer's other inputs. Arrays ``(k,)``: ``units``, ``difference``, ``group_mean``, ``others_mean``. */
export interface SpecificViewMeta {
  key: string;
  layer: string;
  group: number[];
  others: number;
}

/** An activation-patching sweep (``panels/patching.py``): input ``clean`` patched into ``corrupted`` at each layer (its ``site``) and position. Arrays: ``values`` ``(layers, positions)``, the metric on each patched run (NaN where a layer has fewer positions); ``clean_value`` and ``corrupted_value`` the metric unpatched. */
export interface PatchingViewMeta {
  key: string;
  clean: number;
  corrupted: number;
  layers: string[];
  site: string;
  metric: string;
  clean_value: number;
  corrupted_value: number;
  tokens?: string[];
}

/** A snapshot: entry ``e<n>`` is a blob filed under ``keys[n]`` (see :func:`snapshot_key`). */
export interface SnapshotMeta {
  keys: string[];
}

export interface ThumbsMeta {
  count: number;
  total: number;
}

/** The detail of the ``actscope:drawn`` DOM event a layer view fires once painted (browser tests and benchmarks listen for it), beside ``data-drawn`` on the root. */
export interface DrawnDetail {
  layer: string;
  input_index: number;
  t: number;
}

export interface HelloRequest {
  type: "hello";
}

export interface CancelRequest {
  type: "cancel";
}

export interface MineRequest {
  type: "mine";
}

export interface OpenExampleRequest {
  type: "open_example";
  id: number;
}

/** Prefetch a layer view while a kernel is live. */
export interface FetchRequest {
  type: "fetch";
  id: number;
  layer: string;
  input_index: number;
  start?: number;
  unit?: number;
}

/** Run an activation-patching sweep between two inputs (``Explorer.patch``). */
export interface PatchRequest {
  type: "patch";
  clean: number;
  corrupted: number;
  metric?: PatchMetric;
}

export interface HelloReply {
  type: "hello";
}

/** Carries one layer-view blob as its buffer (none with ``error``). */
export interface LayerViewReply {
  type: "layer_view";
  id: number;
  key: string;
  error?: string;
}

export type Request = HelloRequest | CancelRequest | MineRequest | OpenExampleRequest | FetchRequest | PatchRequest;

export type Reply = HelloReply | LayerViewReply;
