// A LayerInfo as Python's list_layers describes it, with test-friendly defaults.
import type { LayerInfo } from "../../src/traits";

export function layerInfo(name: string, fields: Partial<LayerInfo> = {}): LayerInfo {
  const kind = fields.kind ?? "vector";
  const shape = fields.shape === undefined ? [3] : fields.shape;
  return {
    name,
    type: "Linear",
    shape,
    unit_axis: kind === "sequence" ? 1 : 0,
    n_units: shape?.[shape.length - 1] ?? 0,
    n_positions: 1,
    kind,
    output: "",
    outputs: {},
    batch_axis: 0,
    dtype: "float32",
    calls: 1,
    depth: 0,
    parent: "",
    is_leaf: true,
    aliases: [],
    features_of: "",
    ...fields,
  };
}
