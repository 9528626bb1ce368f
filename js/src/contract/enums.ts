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

export type RankBy = "max" | "mean" | "count";
export const rankByValues: readonly RankBy[] = ["max", "mean", "count"];

export type SnapshotPanel = "layer_view" | "saliency" | "examples" | "outputs" | "attention" | "lens" | "effects" | "specific";
export const snapshotPanelValues: readonly SnapshotPanel[] = ["layer_view", "saliency", "examples", "outputs", "attention", "lens", "effects", "specific"];

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

export type LayerViewArray = "act" | "overview" | "column" | "unit_max" | "unit_mean" | "unit_argmax" | "unit_count" | "sp_counts" | "sp_gaps" | "sp_vals" | "image" | "rank_max_units" | "rank_max_max" | "rank_max_mean" | "rank_max_argmax" | "rank_mean_units" | "rank_mean_max" | "rank_mean_mean" | "rank_mean_argmax" | "rank_max_count" | "rank_mean_count" | "rank_count_units" | "rank_count_max" | "rank_count_mean" | "rank_count_argmax" | "rank_count_count";
export const layerViewArrayValues: readonly LayerViewArray[] = ["act", "overview", "column", "unit_max", "unit_mean", "unit_argmax", "unit_count", "sp_counts", "sp_gaps", "sp_vals", "image", "rank_max_units", "rank_max_max", "rank_max_mean", "rank_max_argmax", "rank_mean_units", "rank_mean_max", "rank_mean_mean", "rank_mean_argmax", "rank_max_count", "rank_mean_count", "rank_count_units", "rank_count_max", "rank_count_mean", "rank_count_argmax", "rank_count_count"];

export const saliencyLabels: Record<SaliencyMethod, string> = {"gradient": "gradient", "input_x_gradient": "input × gradient", "integrated_gradients": "integrated gradients", "smoothgrad": "SmoothGrad", "grad_cam": "Grad-CAM"};

export const EXAMPLE_BANDS = 10;
