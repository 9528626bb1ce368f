// The layer tree: containers and leaves with types and shapes; filter, collapse, select.
import { clear, h, shapeText } from "../dom";
import type { LayerInfo } from "../traits";
import "./tree.css";

export class LayerTree {
  readonly el = h("div", { class: "acts-tree" });
  private filter = h("input", {
    class: "acts-filter",
    type: "search",
    placeholder: "Filter layers",
    "aria-label": "Filter layers",
    spellcheck: "false",
  });
  private list = h("div", { class: "acts-tree-list", role: "tree" });
  private layers: LayerInfo[] = [];
  private collapsed = new Set<string>();
  private selected = "";
  private rows = new Map<string, HTMLElement>();
  private explained = new Map<string, number>();
  private visible: string[] = [];
  private parents = new Map<string, string>();

  constructor(private onSelect: (name: string) => void) {
    this.el.append(this.filter, this.list);
    this.filter.addEventListener("input", () => this.draw());
    // Typing in the filter must not reach notebook shortcuts.
    this.filter.addEventListener("keydown", (e) => e.stopPropagation());
    this.list.addEventListener("click", (e) => {
      const row = (e.target as HTMLElement).closest<HTMLElement>(".acts-row");
      if (!row?.dataset.name) return;
      if ((e.target as HTMLElement).classList.contains("acts-caret")) {
        this.toggle(row.dataset.name);
        return;
      }
      this.onSelect(row.dataset.name);
    });
  }

  /**
   * What each lens's decoded features explain of their layer's variance on the current input
   * (0 … 1), shown beside the lens in its row; a lens missing from `values` shows none.
   */
  setExplained(values: Map<string, number>): void {
    this.explained = values;
    for (const l of this.layers) {
      const row = l.features_of ? this.rows.get(l.name) : undefined;
      if (!row) continue;
      const type = row.querySelector<HTMLElement>(".acts-type");
      if (type) type.textContent = this.typeText(l);
      row.title = this.rowTitle(l);
    }
  }

  private typeText(layer: LayerInfo): string {
    if (!layer.features_of) return layer.type;
    const share = this.explained.get(layer.name);
    return `features · ${layer.type}${share === undefined ? "" : ` · ${(100 * share).toFixed(0)}%`}`;
  }

  private rowTitle(layer: LayerInfo): string {
    if (!layer.features_of)
      return `${layer.name} (${layer.type})${layer.calls > 1 ? `, called ${layer.calls}×` : ""}`;
    const share = this.explained.get(layer.name);
    const explained =
      share === undefined
        ? ""
        : `; decoded, they explain ${(100 * share).toFixed(1)}% of its variance on this input`;
    return `${layer.name}: ${layer.n_units} features (${layer.type}) of ${layer.features_of}${explained}`;
  }

  setLayers(layers: LayerInfo[], selected: string): void {
    this.layers = layers;
    this.parents = new Map(layers.map((l) => [l.name, l.parent]));
    this.collapsed.clear();
    // Start with deep containers folded, except the ones holding the selection.
    const many = layers.length > 60;
    for (const l of layers) if (many && !l.is_leaf && l.depth >= 3) this.collapsed.add(l.name);
    this.selected = selected;
    this.unfoldTo(selected);
    this.draw();
    // Rows have no layout until the widget is attached: reveal on the next frame.
    requestAnimationFrame(() => this.reveal(selected));
  }

  select(name: string): void {
    this.selected = name;
    if (this.unfoldTo(name)) this.draw();
    for (const [n, row] of this.rows) {
      const on = n === name;
      row.classList.toggle("acts-selected", on);
      row.setAttribute("aria-selected", String(on));
    }
    this.reveal(name);
  }

  /** Scroll the list (never the page around the widget) so that `name`'s row shows. */
  private reveal(name: string): void {
    const row = this.rows.get(name);
    if (!row) return;
    const top = row.offsetTop - this.list.offsetTop;
    const list = this.list;
    if (top < list.scrollTop || top + row.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTop = Math.max(0, top - list.clientHeight / 3);
    }
  }

  /** The visible layer `step` rows away from the selection (keyboard up/down). */
  neighbour(step: number): string | undefined {
    const i = this.visible.indexOf(this.selected);
    const j = Math.min(Math.max(i + step, 0), this.visible.length - 1);
    return this.visible[j];
  }

  /** Visible layer names in order (prefetching goes outwards from the selection). */
  get order(): string[] {
    return this.visible.slice();
  }

  private toggle(name: string): void {
    if (this.collapsed.has(name)) this.collapsed.delete(name);
    else this.collapsed.add(name);
    this.draw();
  }

  private unfoldTo(name: string): boolean {
    let changed = false;
    for (let p = this.parentOf(name); p; p = this.parentOf(p)) {
      if (this.collapsed.delete(p)) changed = true;
    }
    return changed;
  }

  private parentOf(name: string): string {
    return this.parents.get(name) ?? "";
  }

  private draw(): void {
    clear(this.list);
    this.rows.clear();
    this.visible = [];
    const query = this.filter.value.trim().toLowerCase();
    const show = query ? this.matching(query) : null;
    const hiddenUnder: string[] = [];
    for (const layer of this.layers) {
      const base = layer.name.split("#")[0] as string;
      if (show && !show.has(layer.name)) continue;
      if (!show && hiddenUnder.some((p) => base.startsWith(`${p}.`))) continue;
      if (!show && this.collapsed.has(layer.name)) hiddenUnder.push(layer.name);
      this.list.append(this.row(layer));
      this.visible.push(layer.name);
    }
    if (!this.visible.length) {
      this.list.append(h("div", { class: "acts-empty", text: "No layer matches the filter." }));
    }
  }

  private matching(query: string): Set<string> {
    const out = new Set<string>();
    for (const l of this.layers) {
      const type = `${l.features_of ? "features · " : ""}${l.type}`.toLowerCase();
      if (l.name.toLowerCase().includes(query) || type.includes(query)) {
        out.add(l.name);
        for (let p = this.parentOf(l.name); p; p = this.parentOf(p)) out.add(p);
      }
    }
    return out;
  }

  private row(layer: LayerInfo): HTMLElement {
    const features = Boolean(layer.features_of);
    const last = features
      ? layer.name.slice(layer.features_of.length + 1)
      : layer.name.slice(layer.name.lastIndexOf(".") + 1);
    const caret = layer.is_leaf ? "" : this.collapsed.has(layer.name) ? "▸" : "▾";
    const on = layer.name === this.selected;
    const row = h(
      "div",
      {
        class: `acts-row${on ? " acts-selected" : ""}${layer.kind === "none" ? " acts-dim" : ""}${features ? " acts-features" : ""}`,
        role: "treeitem",
        "aria-selected": String(on),
        "data-name": layer.name,
        title: this.rowTitle(layer),
        style: `padding-left: ${4 + layer.depth * 12}px`,
      },
      h("span", { class: "acts-caret", text: caret }),
      h("span", { class: "acts-name", text: last }),
      h("span", { class: "acts-type", text: this.typeText(layer) }),
      h("span", { class: "acts-shape", text: shapeText(layer.shape) }),
    );
    this.rows.set(layer.name, row);
    return row;
  }
}
