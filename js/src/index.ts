// anywidget entry point for actscope's Explorer (src/actscope/widget/explorer.py).
// `mountStandalone` serves pages written by `Explorer.to_html` (no Jupyter at all).
// Each module imports its own styles: esbuild gathers them into one widget.css.
import type { RenderProps } from "@anywidget/types";
import { ExplorerView } from "./explorer";
import type { Traits } from "./traits";

export { mountStandalone } from "./standalone";

function render({ model, el }: RenderProps<Traits>): () => void {
  const view = new ExplorerView(model, el);
  return () => view.dispose();
}

export default { render };
