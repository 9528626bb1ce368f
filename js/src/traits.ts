// Generated from src/actscope/widget/contract/ by `python -m actscope.widget.typescript`.
// Do not edit: change the contract, then regenerate (tests/test_contract.py checks it).

export type Kind = "spatial" | "sequence" | "vector" | "other" | "none";
export const kindValues: readonly Kind[] = ["spatial", "sequence", "vector", "other", "none"];

export type Modality = "image" | "text" | "tensor" | "dict" | "tuple";
export const modalityValues: readonly Modality[] = ["image", "text", "tensor", "dict", "tuple"];

export type StatusState = "ready" | "busy" | "error";
export const statusStateValues: readonly StatusState[] = ["ready", "busy", "error"];

export type StatusPlace = "view" | "input" | "action" | "mining" | "saliency" | "examples";
export const statusPlaceValues: readonly StatusPlace[] = ["view", "input", "action", "mining", "saliency", "examples"];

export type JobName = "saliency" | "examples" | "mining" | "patching";
export const jobNameValues: readonly JobName[] = ["saliency", "examples", "mining", "patching"];

export type JobState = "running" | "done" | "cancelled" | "error";
export const jobStateValues: readonly JobState[] = ["running", "done", "cancelled", "error"];

export type SaliencyMethod = "gradient" | "input_x_gradient" | "integrated_gradients" | "smoothgrad" | "grad_cam";
export const saliencyMethodValues: readonly SaliencyMethod[] = ["gradient", "input_x_gradient", "integrated_gradients", "smoothgrad", "grad_cam"];

export type SaliencyTargetType = "top" | "class" | "unit" | "token";
export const saliencyTargetTypeValues: readonly SaliencyTargetType[] = ["top", "class", "unit", "token"];

export type SaliencyOver = "pixels" | "tokens" | "values";
export const saliencyOverValues: readonly SaliencyOver[] = ["pixels", "tokens", "values"];

export type ExampleContext = "text" | "image" | "plain";
export const exampleContextValues: readonly ExampleContext[] = ["text", "image", "plain"];

export type RankBy = "max" | "mean";
export const rankByValues: readonly RankBy[] = ["max", "mean"];

export type SnapshotPanel = "layer_view" | "saliency" | "examples" | "outputs" | "attention" | "lens" | "effects";
export const snapshotPanelValues: readonly SnapshotPanel[] = ["layer_view", "saliency", "examples", "outputs", "attention", "lens", "effects"];

export type HeadScore = "previous_token" | "induction" | "first_token" | "entropy";
export const headScoreValues: readonly HeadScore[] = ["previous_token", "induction", "first_token", "entropy"];

export type PredictionTask = "classes" | "next_tokens";
export const predictionTaskValues: readonly PredictionTask[] = ["classes", "next_tokens"];

export type EditOp = "scale" | "value" | "add";
export const editOpValues: readonly EditOp[] = ["scale", "value", "add"];

export type PatchMetric = "top_logprob" | "logit_diff";
export const patchMetricValues: readonly PatchMetric[] = ["top_logprob", "logit_diff"];

export type EditView = "edited" | "clean" | "difference";
export const editViewValues: readonly EditView[] = ["edited", "clean", "difference"];

export type LayerViewArray = "act" | "sp_rows" | "sp_cols" | "sp_vals" | "image" | "rank_max_units" | "rank_max_max" | "rank_max_mean" | "rank_max_argmax" | "rank_mean_units" | "rank_mean_max" | "rank_mean_mean" | "rank_mean_argmax";
export const layerViewArrayValues: readonly LayerViewArray[] = ["act", "sp_rows", "sp_cols", "sp_vals", "image", "rank_max_units", "rank_max_max", "rank_max_mean", "rank_max_argmax", "rank_mean_units", "rank_mean_max", "rank_mean_mean", "rank_mean_argmax"];

export const saliencyLabels: Record<SaliencyMethod, string> = {"gradient": "gradient", "input_x_gradient": "input × gradient", "integrated_gradients": "integrated gradients", "smoothgrad": "SmoothGrad", "grad_cam": "Grad-CAM"};

export const EXAMPLE_BANDS = 10;

/** ``LayerInfo.to_dict()`` (``engine/layers.py``): one entry of ``layers_info``. */
export interface LayerInfo {
  name: string;
  type: string;
  shape: number[] | null;
  unit_axis: number | null;
  n_units: number;
  n_positions: number;
  kind: Kind;
  output: string;
  outputs: Record<string, number[]>;
  batch_axis: number | null;
  dtype: string;
  calls: number;
  depth: number;
  parent: string;
  is_leaf: boolean;
  aliases: string[];
  features_of: string;
}

/** One entry of ``inputs_info``: what the input strip shows of an input. */
export interface InputInfo {
  modality: Modality;
  label: string;
  text?: string;
  shape?: number[];
}

export interface ModelInfo {
  name: string;
  device: string;
  dtype: string;
  n_params: number;
  training: boolean;
}

/** The banner: ready, busy or an error, and where the error came from. */
export interface Status {
  state: StatusState;
  message: string;
  where?: StatusPlace;
}

/** The background job started from the widget, if any (``jobs.py``). */
export interface Job {
  name?: JobName;
  state?: JobState;
  progress?: number | null;
  message?: string;
}

/** What the saliency panel explains: the top prediction, a class (``index``), the selected unit of the current layer, or (a language model) the next token after the selected position. */
export interface SaliencyTarget {
  type: SaliencyTargetType;
  index?: number;
}

/** One edit of the ``edits`` trait: ``op`` by ``amount`` on ``units`` (None: all) of ``layer`` at ``positions`` (None: all; tokens, or flat locations ``y * W + x``). */
export interface EditSpec {
  layer: string;
  units: number[] | null;
  positions: number[] | null;
  op: EditOp;
  amount: number;
}

export interface MiningInfo {
  has_dataset: boolean;
  layers: string[];
}

/** Every synced trait of ``Explorer`` (``widget/explorer.py`` and its panels). */
export interface Traits {
  layer: string;
  input_index: number;
  unit: number | null;
  position: number | null;
  model_info: ModelInfo;
  layers_info: LayerInfo[];
  inputs_info: InputInfo[];
  thumbs: DataView | null;
  status: Status;
  job: Job;
  prefetch: boolean;
  snapshot_data: DataView | null;
  layer_view: DataView | null;
  saliency_method: SaliencyMethod | "";
  saliency_target: SaliencyTarget;
  saliency_view: DataView | null;
  examples_view: DataView | null;
  examples_band: number;
  mining: MiningInfo;
  classes: string[];
  outputs_view: DataView | null;
  attention_view: DataView | null;
  attention_layers: Record<string, string>;
  head: number | null;
  head_score: HeadScore;
  lens_view: DataView | null;
  effects_view: DataView | null;
  patching_view: DataView | null;
  edits: EditSpec[];
  edit_view: EditView;
}

/** A blob that answers ``key`` with an error instead of data (any panel). */
export interface ErrorMeta {
  key: string;
  edits?: string;
  error: string;
}

/** A layer view that failed (the forward pass raised, the layer returned no tensor). */
export interface LayerViewErrorMeta {
  key: string;
  edits?: string;
  error: string;
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

/** One layer of one input (``panels/layer_view.py``). Arrays: :data:`LayerViewArray`. */
export interface LayerViewMeta {
  nan: number;
  posinf: number;
  neginf: number;
  min: number;
  max: number;
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
}

/** One saliency map (``panels/saliency.py``). Arrays: ``map`` and, over pixels, ``image``. */
export interface SaliencyViewMeta {
  nan: number;
  posinf: number;
  neginf: number;
  min: number;
  max: number;
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

/** One attention layer's patterns for one input (``panels/attention.py``). Arrays: ``pattern`` ``(heads, queries, keys)``, one byte a probability. */
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

export function layerViewKey(input_index: number, layer: string): string {
  return `${input_index}|${layer}`;
}

export function saliencyKey(input_index: number, method: string, target: string): string {
  return `${input_index}|${method}|${target}`;
}

export function examplesKey(layer: string, unit: number, band: number): string {
  return `${layer}|${unit}|${band}`;
}

export function outputsKey(input_index: number): string {
  return `${input_index}`;
}

export function attentionKey(input_index: number, layer: string): string {
  return `${input_index}|${layer}`;
}

export function lensKey(input_index: number): string {
  return `${input_index}`;
}

export function effectsKey(layer: string, unit: number): string {
  return `${layer}|${unit}`;
}

export function snapshotKey(panel: SnapshotPanel, key: string): string {
  return `${panel}|${key}`;
}
