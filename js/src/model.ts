// The typed mirror of the synced traits of `Explorer` in src/actscope/widget.py.
// Change one side, change the other: names and shapes must agree.

/** `LayerInfo.to_dict()` (src/actscope/layers.py). */
export interface LayerInfo {
  name: string;
  type: string;
  shape: number[] | null;
  unit_axis: number | null;
  n_units: number;
  n_positions: number;
  kind: "spatial" | "sequence" | "vector" | "other" | "none";
  output: string;
  outputs: Record<string, number[]>;
  batch_axis: number | null;
  dtype: string;
  calls: number;
  depth: number;
  parent: string;
  is_leaf: boolean;
}

/** `inputs_info` items (src/actscope/payloads.py `inputs_info`). */
export interface InputInfo {
  kind: "image" | "text" | "tensor" | "dict";
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

/** A background job started from the widget (src/actscope/jobs.py). */
export interface Task {
  kind?: string;
  state?: "running" | "done" | "cancelled" | "error";
  progress?: number | null;
  message?: string;
}

export interface Status {
  state: "ready" | "busy" | "error";
  message: string;
  where?: string;
}

/** Every synced trait. Bytes traits arrive as DataView (or null when empty). */
export interface Traits {
  layer: string;
  input_index: number;
  unit: number | null;
  model_info: ModelInfo;
  layers_info: LayerInfo[];
  inputs_info: InputInfo[];
  thumbs: DataView | null;
  view: DataView | null;
  status: Status;
  saliency_method: string;
  saliency_target: string;
  saliency_view: DataView | null;
  task: Task;
  examples: DataView | null;
  examples_band: number;
  mining: { has_dataset?: boolean; layers?: string[] };
  /** Compressed wire blob of precomputed entries (src/actscope/snapshot.py). */
  snapshot_data: DataView | null;
  prefetch: boolean;
}

/** Custom messages, front end → Python (`Explorer._on_msg`). */
export type Request =
  | { type: "hello" }
  | { type: "cancel" }
  | { type: "mine" }
  | { type: "open_example"; id: number }
  | { type: "fetch"; id: number; layer: string; input: number };

/** Custom messages, Python → front end. A `block` carries one wire blob as its buffer. */
export type Reply =
  | { type: "hello" }
  | { type: "block"; id: number; layer: string; input: number; error?: string };
