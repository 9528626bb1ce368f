// anywidget entry point for actscope's Explorer (src/actscope/widget.py).
// `mountStandalone` serves pages written by `Explorer.to_html` (no Jupyter at all).
import type { RenderProps } from "@anywidget/types";
import { ExplorerView } from "./app";
import type { Traits } from "./model";
import "./widget.css";

export { mountStandalone } from "./standalone";

function render({ model, el }: RenderProps<Traits>): () => void {
  const view = new ExplorerView(model, el);
  return () => view.dispose();
}

export default { render };
