// Drawing a layout outside the explorer: decoded test data and a view context that records.
import { ColorMap, scaleFor } from "../../src/colormap";
import { Tooltip } from "../../src/components/tooltip";
import { isFailure, type LayerData, layerViewFromBlob, type SortMode } from "../../src/layouts/data";
import type { ViewContext } from "../../src/layouts/kind";
import type { Kind } from "../../src/traits";
import { viewBlob } from "./encode";

export function data(
  kind: Kind,
  shape: number[],
  values: number[],
  extra: Record<string, unknown> = {},
): LayerData {
  const d = layerViewFromBlob(viewBlob("l", 0, kind, shape, values, extra));
  if (isFailure(d)) throw new Error("not data");
  return d;
}

export function context(fields: Partial<ViewContext> = {}): ViewContext & { picked: number[] } {
  const picked: number[] = [];
  const root = document.createElement("div");
  document.body.append(root);
  return {
    cmap: new ColorMap(scaleFor(-10, 10, false)),
    tooltip: new Tooltip(root),
    sort: "index" as SortMode,
    unit: null,
    onUnit: (u) => picked.push(u),
    width: 640,
    dark: false,
    word: "unit",
    picked,
    ...fields,
  };
}
