// The edits bar (twin of src/actscope/widget/panels/edits.py): ablate, set or steer the
// selected unit, at every position or the selected one; the active edits as chips that can
// be removed; and, while edits are active, what the layer view shows (edited, clean or the
// difference). Python reruns the views downstream; each blob says which edits it answers
// (`meta.edits`, `editsTag`), so a clean view is never drawn as an edited one.
import type { AnyModel } from "@anywidget/types";
import { clear, fmt, h } from "../dom";
import { layerWord } from "../layouts/kind";
import type { EditOp, EditSpec, EditView, Traits } from "../traits";
import "./edits.css";

/** What a blob computed with `edits`, shown as `view`, answers besides its key ("" for none). */
export function editsTag(edits: readonly EditSpec[] | undefined, view: EditView | string = "edited"): string {
  if (!edits?.length) return "";
  return `${view}:${JSON.stringify(edits.map((e) => [e.layer, e.units, e.positions, e.op, e.amount]))}`;
}

/** The store's key of a layer view: its key, and the edits it answers. */
export function taggedKey(key: string, tag: string): string {
  return tag ? `${key}~${tag}` : key;
}

/** An amount as the `edits` trait keeps it (4 decimals, within ±1e6). */
export function normalAmount(v: number): number {
  const r = Math.round(Math.max(-1e6, Math.min(1e6, v)) * 1e4) / 1e4;
  return r === 0 ? 0 : r;
}

const OP_SIGN: Record<EditOp, string> = { scale: "×", value: "=", add: "+" };

/** How the widget names an edit (as Python's `describe`). */
export function describeEdit(e: EditSpec): string {
  const units =
    e.units === null ? "every unit" : `unit${e.units.length > 1 ? "s" : ""} ${e.units.join(", ")}`;
  const where = e.positions === null ? "" : ` at ${e.positions.join(", ")}`;
  return `${e.layer} · ${units}${where} · ${OP_SIGN[e.op]} ${e.amount}`;
}

export interface EditsHost {
  model: AnyModel<Traits>;
  on(event: string, fn: () => void): void;
  commit(debounce: boolean): void;
  /** True once it is clear that no kernel will answer: edits cannot be computed then. */
  offline(): boolean;
  /** The range the amount slider spans: the selected unit's mined range (its examples'
   * histogram) when an index covers it, else the current layer view's values; and which. */
  valueRange(): { range: [number, number]; what: string } | null;
}

const VIEWS: [EditView, string][] = [
  ["edited", "the edited run"],
  ["clean", "the clean run"],
  ["difference", "edited minus clean"],
];

export class EditsPanel {
  readonly el = h("div", { class: "acts-edits" });
  private amount = 0;

  constructor(private host: EditsHost) {
    for (const event of [
      "change:edits",
      "change:edit_view",
      "change:unit",
      "change:layer",
      "change:position",
    ])
      host.on(event, () => this.show());
    this.show();
  }

  private edits(): EditSpec[] {
    return this.host.model.get("edits") ?? [];
  }

  private setEdits(edits: EditSpec[]): void {
    this.host.model.set("edits", edits);
    this.host.commit(false);
  }

  show(): void {
    const model = this.host.model;
    clear(this.el);
    if (model.get("edits") === undefined) {
      this.el.style.display = "none"; // saved by a version of actscope with no edits
      return;
    }
    const edits = this.edits();
    const offline = this.host.offline();
    this.el.dataset.edits = String(edits.length);
    this.el.classList.toggle("acts-edits-on", edits.length > 0);
    // A page with no kernel shows the edits it was saved with, and cannot make new ones.
    this.el.style.display = offline && !edits.length ? "none" : "";
    const unit = model.get("unit");
    if (offline) {
      if (edits.length) this.el.append(this.chips(edits, false));
      return;
    }
    if (unit !== null) this.el.append(this.controls(unit));
    else if (!edits.length)
      this.el.append(h("span", { class: "acts-hint", text: "Select a unit to ablate, set or steer it." }));
    if (edits.length) this.el.append(this.chips(edits), this.viewToggle());
  }

  private controls(unit: number): HTMLElement {
    const model = this.host.model;
    const position = model.get("position");
    const found = this.host.valueRange();
    const [lo, hi] = found?.range ?? [-1, 1];
    const box = h("span", { class: "acts-edits-controls" });
    const at = h("input", {
      type: "checkbox",
      class: "acts-edits-at",
      "aria-label": "only at the selected position",
    });
    const number = h("input", {
      type: "number",
      class: "acts-edits-amount",
      step: "any",
      value: String(this.amount),
      "aria-label": "amount",
    });
    const slider = h("input", {
      type: "range",
      class: "acts-edits-slider",
      min: String(Math.min(lo, 0)),
      max: String(Math.max(hi, 0)),
      step: String((Math.max(hi, 0) - Math.min(lo, 0)) / 200 || 0.01),
      value: String(this.amount),
      title: found ? `${found.what}: ${fmt(lo)} to ${fmt(hi)}` : "",
    });
    const setAmount = (v: number): void => {
      if (!Number.isFinite(v)) return;
      this.amount = normalAmount(v);
      number.value = String(this.amount);
      slider.value = String(this.amount);
    };
    number.addEventListener("change", () => setAmount(Number(number.value)));
    slider.addEventListener("input", () => setAmount(Number(slider.value)));
    const add = (op: EditOp, amount: number): void => {
      const spec: EditSpec = {
        layer: model.get("layer"),
        units: [unit],
        positions: at.checked && position !== null ? [position] : null,
        op,
        amount: normalAmount(amount),
      };
      this.setEdits([...this.edits(), spec]);
    };
    const button = (op: EditOp, text: string, title: string, amount: () => number): HTMLElement => {
      const b = h("button", { class: "acts-btn", type: "button", "data-edit": text, text, title });
      b.addEventListener("click", () => add(op, amount()));
      return b;
    };
    box.append(
      h("span", {
        class: "acts-label",
        text: `${layerWord(this.host.model.get("layers_info"), this.host.model.get("layer"))} ${unit}`,
      }),
      button("scale", "ablate", "multiply the unit by 0", () => 0),
      button("value", "set", "set the unit to the amount", () => this.amount),
      button("add", "steer", "add the amount to the unit", () => this.amount),
      number,
      slider,
    );
    if (position !== null)
      box.append(h("label", { class: "acts-label" }, at, ` only at position ${position}`));
    return box;
  }

  private chips(edits: EditSpec[], removable = true): HTMLElement {
    const box = h(
      "span",
      { class: "acts-edits-chips" },
      h("span", { class: "acts-edits-badge", text: "edited" }),
    );
    edits.forEach((e, i) => {
      const remove = h("button", {
        class: "acts-edits-remove",
        type: "button",
        text: "✕",
        title: "remove this edit",
      });
      remove.addEventListener("click", () => this.setEdits(this.edits().filter((_, j) => j !== i)));
      box.append(
        h("span", { class: "acts-edits-chip", "data-index": i }, describeEdit(e), removable ? remove : null),
      );
    });
    if (!removable) {
      box.append(
        h("span", { class: "acts-hint", text: "saved with the page (edits need a running kernel)" }),
      );
      return box;
    }
    const all = h("button", { class: "acts-btn", type: "button", text: "clear", title: "remove every edit" });
    all.addEventListener("click", () => this.setEdits([]));
    box.append(all);
    return box;
  }

  private viewToggle(): HTMLElement {
    const model = this.host.model;
    const seg = h("span", { class: "acts-seg", role: "group", "aria-label": "The layer view shows" });
    for (const [view, title] of VIEWS) {
      const b = h("button", { class: "acts-btn", type: "button", "data-view": view, text: view, title });
      b.classList.toggle("acts-on", model.get("edit_view") === view);
      b.addEventListener("click", () => {
        model.set("edit_view", view);
        this.host.commit(false);
      });
      seg.append(b);
    }
    return h(
      "span",
      { class: "acts-edits-view" },
      h("span", { class: "acts-label", text: "layer view" }),
      seg,
    );
  }
}
