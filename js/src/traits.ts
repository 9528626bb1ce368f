// Generated from src/actscope/widget/contract/ by `python -m actscope.widget.typescript`.
// Do not edit: change the contract, then regenerate (tests/test_contract.py checks it).

import type { EditOp, EditView, HeadScore, JobName, JobState, Kind, Modality, SaliencyMethod, SaliencyTargetType, SnapshotPanel, StatusPlace, StatusState } from "./contract/enums";

export * from "./contract/enums";
export * from "./contract/metas";

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
  store_bytes: number;
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
  attention_start: number;
  lens_view: DataView | null;
  effects_view: DataView | null;
  contrast_group: number[];
  specific_view: DataView | null;
  patching_view: DataView | null;
  edits: EditSpec[];
  edit_view: EditView;
}

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

export function specificKey(layer: string, group: string): string {
  return `${layer}|${group}`;
}

export function snapshotKey(panel: SnapshotPanel, key: string): string {
  return `${panel}|${key}`;
}
