// The units most specific to a group of inputs (twin of src/actscope/widget/panels/specific.py):
// "which features fire more on these inputs than on the others?". Under the ranking: buttons
// put the current input in the `contrast_group` trait (alone, added or removed); the list
// ranks the layer's units by the group's mean per-input maximum minus the other inputs'.
// Data: the `specific_view` trait or a snapshot (each saved input alone), tagged with its key.
import type { AnyModel } from "@anywidget/types";
import { ColorMap } from "../colormap";
import { clear, fmt, h } from "../dom";
import { capital, unitWord } from "../layouts/kind";
import { PanelBlobs, type PanelData, stateOf } from "../snapshot";
import { type LayerInfo, type SpecificViewMeta, specificKey, type Traits } from "../traits";
import { editsTag } from "./edits";
import { barList, drawOr, noteFor, quietPanel } from "./outputs";
import "./specific.css";

export interface SpecificHost {
  model: AnyModel<Traits>;
  on(event: string, fn: () => void): void;
  isDark(): boolean;
  offline(): boolean;
  layerInfo(name: string): LayerInfo | undefined;
  selectUnit(unit: number | null): void;
  commit(debounce: boolean): void;
}

/** A group of inputs in keys: ascending, once each, comma-separated (Python's `group_text`). */
export function groupText(group: readonly number[]): string {
  return [...new Set(group)].sort((a, b) => a - b).join(",");
}

/** Input numbers in words: "input 3", "inputs 1, 4". */
function inputsText(group: readonly number[]): string {
  return `input${group.length === 1 ? "" : "s"} ${group.join(", ")}`;
}

type Meta = SpecificViewMeta;

export class SpecificPanel {
  readonly el = h("div", { class: "acts-specific" });
  private blobs = new PanelBlobs<Meta>("contrast");
  private data: PanelData<Meta> | null = null;

  constructor(private host: SpecificHost) {
    this.blobs.follow(
      host,
      "specific_view",
      () => this.currentKey() ?? "",
      () => this.show(),
    );
    host.on("change:contrast_group", () => this.show());
    this.el.addEventListener("click", (e) => {
      const target = e.target as HTMLElement;
      const action = target.closest<HTMLElement>("[data-group]")?.dataset.group;
      if (action) return this.setGroup(action);
      const row = target.closest<HTMLElement>("[data-unit]");
      if (row?.dataset.unit) host.selectUnit(Number(row.dataset.unit));
    });
  }

  /** Keep a snapshot's contrasts, by key. */
  loadSnapshot(blobs: Map<string, DataView>): void {
    this.blobs.loadSnapshot(blobs);
  }

  private group(): number[] {
    return [...(this.host.model.get("contrast_group") ?? [])];
  }

  /** The key of the current layer and group (null: no group). */
  currentKey(): string | null {
    const group = this.group();
    return group.length ? specificKey(this.host.model.get("layer"), groupText(group)) : null;
  }

  private setGroup(action: string): void {
    const input = this.host.model.get("input_index");
    const group = this.group();
    const next =
      action === "only"
        ? [input]
        : action === "toggle"
          ? group.includes(input)
            ? group.filter((i) => i !== input)
            : [...group, input]
          : [];
    this.host.model.set(
      "contrast_group",
      [...new Set(next)].sort((a, b) => a - b),
    );
    this.host.commit(false);
  }

  show(): void {
    const inputs = (this.host.model.get("inputs_info") ?? []).length;
    const key = this.currentKey();
    this.el.dataset.key = "";
    if (inputs < 2) {
      clear(this.el);
      this.el.style.display = "none";
      this.el.dataset.specific = "hidden";
      return;
    }
    if (key === null) {
      this.data = null;
      this.el.dataset.specific = "idle";
      this.frame(
        h("span", { class: "acts-hint", text: "Which units fire more on this input than on the others?" }),
      );
      return;
    }
    const offline = this.host.offline();
    const data = this.blobs.answer(key, offline, editsTag(this.host.model.get("edits")));
    const state = stateOf(data, offline);
    this.el.dataset.specific = state;
    this.data = state === "drawn" ? data : null;
    if (state === "error") {
      quietPanel(this.el, "Specific to inputs", state, noteFor(state, data, ""));
    } else if (!this.data) {
      this.frame(h("span", { class: "acts-hint", text: noteFor(state, data, "this group") }));
    }
    if (!this.data) return;
    this.el.dataset.key = key;
    drawOr(this.el, "Specific to inputs", "specific", () => this.paint());
  }

  /** Draw again (the theme changed). */
  redraw(): void {
    if (this.data) this.show();
  }

  /** The title, the group buttons and `body` under them. */
  private frame(...body: HTMLElement[]): void {
    const input = this.host.model.get("input_index");
    const group = this.group();
    const button = (action: string, text: string, title: string) =>
      h("button", { class: "acts-btn", type: "button", "data-group": action, text, title });
    const buttons = [button("only", "this input", `The units most specific to input ${input}`)];
    if (group.length) {
      buttons.push(
        group.includes(input)
          ? button("toggle", "− this input", `Take input ${input} out of the group`)
          : button("toggle", "+ this input", `Add input ${input} to the group`),
        button("clear", "clear", "Stop contrasting"),
      );
    }
    clear(this.el);
    this.el.classList.remove("acts-quiet");
    this.el.style.display = "";
    this.el.append(
      h("div", { class: "acts-panel-title", text: "Specific to inputs" }),
      h("div", { class: "acts-specific-buttons" }, ...buttons),
      ...body,
    );
  }

  private paint(): void {
    const data = this.data;
    if (!data) return;
    const m = data.meta as Meta;
    const units = data.arrays.get("units") ?? new Int32Array(0);
    const diff = data.arrays.get("difference") ?? new Float32Array(0);
    const inGroup = data.arrays.get("group_mean") ?? new Float32Array(0);
    const others = data.arrays.get("others_mean") ?? new Float32Array(0);
    const word = unitWord(this.host.layerInfo(m.layer));
    let peak = 1e-9;
    for (const v of diff) if (Number.isFinite(v)) peak = Math.max(peak, Math.abs(v));
    const cmap = new ColorMap({ lo: -peak, hi: peak, signed: true, dark: this.host.isDark() });
    const who = inputsText(m.group);
    const list = barList(
      Array.from(units, (u, i) => {
        const v = diff[i] ?? Number.NaN;
        return {
          label: String(u),
          fraction: Math.abs(v) / peak,
          text: fmt(v),
          color: cmap.css(v >= 0 ? peak : -peak),
          title: `${word} ${u}: mean peak ${fmt(inGroup[i] ?? Number.NaN)} on ${who}, ${fmt(others[i] ?? Number.NaN)} on the other ${m.others}`,
        };
      }),
    );
    const unit = this.host.model.get("unit");
    list.querySelectorAll<HTMLElement>(".acts-barlist-row").forEach((row, i) => {
      row.dataset.unit = String(units[i]);
      row.setAttribute("role", "button");
      row.classList.toggle("acts-selected", units[i] === unit);
    });
    const what = `${capital(word)}s by mean peak on ${who} minus on the other ${m.others}`;
    this.frame(
      h("div", { class: "acts-hint", text: `${who} against the other ${m.others}`, title: what }),
      list,
    );
  }
}
