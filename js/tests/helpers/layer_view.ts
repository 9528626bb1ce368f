// The layer view panel mounted on its own, over a model of traits: what it sends and which
// units it selects are recorded.
import { Tooltip } from "../../src/components/tooltip";
import { LayerViewPanel } from "../../src/panels/layer_view";
import type { StaticModel } from "../../src/standalone";
import { ViewStore } from "../../src/store";
import type { FetchRequest, LayerInfo } from "../../src/traits";

export function mountLayerView(model: StaticModel, offline = false) {
  const root = document.createElement("div");
  document.body.append(root);
  const store = new ViewStore();
  const selected: (number | null)[] = [];
  const drawn: string[] = [];
  const sent: FetchRequest[] = [];
  const layers = new Map((model.get("layers_info") as LayerInfo[]).map((l) => [l.name, l]));
  const panel = new LayerViewPanel({
    model,
    root,
    store,
    tooltip: new Tooltip(root),
    on: (event, fn) => model.on(event, fn),
    layerInfo: (name) => layers.get(name),
    offline: () => offline,
    selectUnit: (u) => {
      selected.push(u);
      model.set("unit", u);
    },
    drawn: () => drawn.push(root.dataset.drawn ?? ""),
    later: (_key, fn) => fn(),
    send: (msg) => sent.push(msg) > 0 && !offline,
  });
  root.append(...panel.parts, panel.ranking.el);
  return { root, store, panel, selected, drawn, sent };
}
