// The outputs panel (twin of src/actscope/widget/panels/outputs.py): what the model predicts
// for the selected input. A classifier's top classes as a ranked bar list, the input's label
// marked; a language model's text as token chips coloured by the loss of the token that
// follows each, and at the selected position (the `position` trait, null: the last) its top
// next tokens. Data: the `outputs_view` trait or a snapshot, each blob tagged with its key.
// Also home to what the token panels share (readable tokens, bar lists, quiet notes).
import type { AnyModel } from "@anywidget/types";
import { ColorMap } from "../colormap";
import type { Tooltip } from "../components/tooltip";
import { clear, fmt, h, readableToken } from "../dom";
import { PanelBlobs, type PanelData, type PanelState, stateOf } from "../snapshot";
import { type OutputsViewMeta, outputsKey, type PredictionTask, type Traits } from "../traits";
import { editsTag } from "./edits";
import "./outputs.css";

export interface OutputsHost {
  model: AnyModel<Traits>;
  tooltip: Tooltip;
  on(event: string, fn: () => void): void;
  isDark(): boolean;
  /** True once it is clear that no kernel will answer (nothing more will arrive). */
  offline(): boolean;
  commit(debounce: boolean): void;
}

/** A probability as a percentage. */
export function pct(p: number): string {
  if (!Number.isFinite(p)) return "—";
  const v = 100 * p;
  return `${v >= 10 ? v.toFixed(1) : v >= 0.1 ? v.toFixed(2) : v.toPrecision(2)}%`;
}

/** Why a view is missing offline, for a panel whose key holds `what`. */
export function notSaved(what: string): string {
  return `not saved in this snapshot: re-run the notebook, or include ${what} in ex.snapshot(...)`;
}

export interface BarItem {
  label: string;
  /** Bar length, 0 … 1. */
  fraction: number;
  text: string;
  /** A tag after the value ("label", "next"); the row is marked. */
  mark?: string;
  color?: string;
  title?: string;
}

/** A ranked list of labelled bars (classes, next tokens, logit effects). */
export function barList(items: BarItem[], cls = ""): HTMLElement {
  const list = h("div", { class: `acts-barlist ${cls}`.trim() });
  for (const item of items) {
    const bar = h("i", { class: "acts-barlist-fill" });
    bar.style.width = `${Math.max(0, Math.min(1, item.fraction)) * 100}%`;
    if (item.color) bar.style.background = item.color;
    list.append(
      h(
        "div",
        { class: `acts-barlist-row${item.mark ? " acts-marked" : ""}`, title: item.title },
        h("span", { class: "acts-barlist-name", text: item.label }),
        h("span", { class: "acts-barlist-bar" }, bar),
        h("span", { class: "acts-barlist-value", text: item.text }),
        h("span", { class: "acts-barlist-mark", text: item.mark ?? "" }),
      ),
    );
  }
  return list;
}

/**
 * Show in `el` what a panel with nothing to draw says: one quiet line (title and note) while
 * loading, when not saved, or when the panel does not apply; an error in place.
 */
export function quietPanel(el: HTMLElement, title: string, state: PanelState, text: string): void {
  clear(el);
  el.classList.toggle("acts-quiet", state !== "error");
  el.style.display = "";
  if (state === "error") {
    el.append(
      h("div", { class: "acts-panel-title", text: title }),
      h("div", { class: "acts-saliency-error", text }),
    );
    return;
  }
  el.append(
    h(
      "div",
      { class: "acts-quiet-line" },
      h("span", { class: "acts-panel-title", text: title }),
      h("span", { class: "acts-hint", text }),
    ),
  );
}

/**
 * Run `paint`; should the blob's meta not be what the panel expects (a field missing or of
 * another type), show an error in place instead of throwing, with `data-<attr>` "error".
 */
export function drawOr(el: HTMLElement, title: string, attr: string, paint: () => void): void {
  // A redraw (another position or head picked) keeps where its scrolled parts were.
  const scrolled = Array.from(el.querySelectorAll<HTMLElement>("[data-scroll]"), (e) => [
    e.dataset.scroll,
    e.scrollTop,
    e.scrollLeft,
  ]);
  try {
    paint();
    for (const [name, top, left] of scrolled) {
      const e = el.querySelector<HTMLElement>(`[data-scroll='${name}']`);
      if (e) [e.scrollTop, e.scrollLeft] = [Number(top), Number(left)];
    }
  } catch (err) {
    el.dataset[attr] = "error";
    quietPanel(
      el,
      title,
      "error",
      `This view could not be drawn: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

/** The text of a panel's non-drawn state (an answer's own message for unavailable/error). */
export function noteFor<M>(state: PanelState, data: PanelData<M> | null, what: string): string {
  const meta = data?.meta as { error?: string; unavailable?: string } | undefined;
  if (state === "error") return meta?.error ?? "";
  if (state === "unavailable") return meta?.unavailable ?? "";
  return state === "missing" ? notSaved(what) : "computing…";
}

/** A probability, and the clean run's beside it while edits are active. */
function wasText(p: number, clean: number | undefined): string {
  return clean === undefined ? pct(p) : `${pct(p)} (clean ${pct(clean)})`;
}

/** The mark of predictions from an edited run (null for a clean one). */
function editedNote(edited: boolean): HTMLElement | null {
  return edited ? h("span", { class: "acts-edits-badge", text: "edited" }) : null;
}

type Meta = OutputsViewMeta;

export class OutputsPanel {
  readonly el = h("div", { class: "acts-outputs" });
  private blobs = new PanelBlobs<Meta>("outputs");
  private data: PanelData<Meta> | null = null;
  private seen: PredictionTask | "" = "";

  constructor(private host: OutputsHost) {
    this.blobs.follow(
      host,
      "outputs_view",
      () => this.currentKey(),
      () => this.show(),
    );
  }

  /** Keep a snapshot's outputs, by key. */
  loadSnapshot(blobs: Map<string, DataView>): void {
    this.blobs.loadSnapshot(blobs);
  }

  currentKey(): string {
    return outputsKey(this.host.model.get("input_index"));
  }

  /** What the model predicts, as last seen ("" before any answer). */
  task(): PredictionTask | "" {
    return this.seen;
  }

  show(): void {
    const model = this.host.model;
    if (model.get("outputs_view") === undefined) {
      // Saved by a version of actscope with no outputs panel.
      this.el.style.display = "none";
      this.el.dataset.outputs = "";
      return;
    }
    const key = this.currentKey();
    const offline = this.host.offline();
    const data = this.blobs.answer(key, offline, editsTag(this.host.model.get("edits")));
    const state = stateOf(data, offline);
    this.el.dataset.outputs = state;
    this.el.dataset.key = data ? key : "";
    this.data = state === "drawn" ? data : null;
    const task = (this.data?.meta as Meta | undefined)?.task;
    if (task === "classes" || task === "next_tokens") this.seen = task;
    if (!this.data) {
      quietPanel(this.el, "Outputs", state, noteFor(state, data, "this input"));
      return;
    }
    this.draw();
  }

  /** Draw again (the theme changed). */
  redraw(): void {
    if (this.data) this.draw();
  }

  private draw(): void {
    drawOr(this.el, "Outputs", "outputs", () => this.paint());
  }

  private paint(): void {
    const data = this.data;
    if (!data) return;
    const m = data.meta as Meta;
    clear(this.el);
    this.el.classList.remove("acts-quiet");
    this.el.style.display = "";
    if (m.task === "classes") this.classes(data, m);
    else this.nextTokens(data, m);
  }

  private classes(data: PanelData<Meta>, m: Meta): void {
    const ids = data.arrays.get("ids") ?? new Int32Array(0);
    const probs = data.arrays.get("probs") ?? new Float32Array(0);
    const clean = data.arrays.get("clean_probs");
    const names = Array.from(ids, (id) => m.names[String(id)] ?? String(id));
    const top = Math.max(...Array.from(probs), 1e-9);
    const items = names.map((name, i) => ({
      label: name,
      fraction: (probs[i] as number) / top,
      text: wasText(probs[i] as number, clean?.[i]),
      mark: m.label && name === m.label ? "label" : undefined,
    }));
    this.el.append(
      h(
        "div",
        { class: "acts-outputs-head" },
        h("span", { class: "acts-panel-title", text: "Prediction" }),
        h("span", { class: "acts-label", text: `top ${ids.length} classes of input ${m.input_index}` }),
        editedNote(clean !== undefined),
      ),
      barList(items, "acts-outputs-classes"),
    );
    if (m.label && !names.includes(m.label)) {
      this.el.append(
        h("div", { class: "acts-hint", text: `label “${m.label}” is not among the top ${ids.length}` }),
      );
    }
  }

  private nextTokens(data: PanelData<Meta>, m: Meta): void {
    const tokens = m.tokens ?? [];
    const loss = data.arrays.get("loss") ?? new Float32Array(0);
    const next = data.arrays.get("next_prob") ?? new Float32Array(0);
    const T = Math.max(tokens.length, data.shapes.get("ids")?.[0] ?? 0);
    let [sum, n, peak] = [0, 0, 0];
    for (const v of loss) {
      if (Number.isFinite(v)) [sum, n, peak] = [sum + v, n + 1, Math.max(peak, v)];
    }
    const mean = n ? sum / n : Number.NaN;
    const cleanLoss = data.arrays.get("clean_loss");
    let [cleanSum, cleanN] = [0, 0];
    for (const v of cleanLoss ?? []) if (Number.isFinite(v)) [cleanSum, cleanN] = [cleanSum + v, cleanN + 1];
    const cmap = new ColorMap({ lo: 0, hi: peak || 1, signed: false, dark: this.host.isDark() });
    const position = this.position(T);
    const scale = h("canvas", { class: "acts-outputs-scale", width: 64, height: 1 });
    const g = scale.getContext("2d");
    if (g) {
      const img = g.createImageData(64, 1);
      const px = new Uint32Array(img.data.buffer);
      for (let i = 0; i < 64; i++) px[i] = cmap.lut[Math.round((i * (cmap.lut.length - 1)) / 63)] as number;
      g.putImageData(img, 0, 0);
    }
    this.el.append(
      h(
        "div",
        { class: "acts-outputs-head" },
        h("span", { class: "acts-panel-title", text: "Next tokens" }),
        h("span", {
          class: "acts-outputs-summary",
          text: n
            ? `mean loss ${fmt(mean)} over ${n} tokens · perplexity ${fmt(Math.exp(mean))}` +
              (cleanN ? ` (clean: loss ${fmt(cleanSum / cleanN)})` : "")
            : "no token to predict",
        }),
        editedNote(cleanLoss !== undefined || data.arrays.has("clean_probs")),
        h(
          "span",
          { class: "acts-outputs-legend" },
          "loss of the next token ",
          h("span", { text: "0" }),
          scale,
          h("span", { text: fmt(peak || 1) }),
        ),
      ),
    );
    const line = h("div", { class: "acts-token-line acts-outputs-text", "data-scroll": "text" });
    for (let t = 0; t < T; t++) {
      const tok = tokens[t] ?? `p${t}`;
      const v = loss[t] ?? Number.NaN;
      const chip = h("span", {
        class: `acts-token acts-outputs-token${t === position ? " acts-on" : ""}`,
        "data-position": t,
        role: "button",
        text: readableToken(tok, true),
      });
      if (Number.isFinite(v)) {
        chip.style.background = cmap.css(v);
        chip.style.color = cmap.textOn(v);
      } else chip.classList.add("acts-outputs-none");
      chip.addEventListener("mousemove", (e) => this.host.tooltip.show(e, this.hover(tokens, t, next, loss)));
      chip.addEventListener("mouseleave", () => this.host.tooltip.hide());
      chip.addEventListener("click", () => this.select(t));
      line.append(chip);
      if (tok.includes("Ċ")) line.append(h("br"));
    }
    this.el.append(line);
    if (position >= 0) this.el.append(this.topTokens(data, m, position, tokens));
  }

  /** The selected position: the trait, or the last token (also for one out of range). */
  private position(T: number): number {
    const p = this.host.model.get("position");
    return p != null && p >= 0 && p < T ? p : T - 1;
  }

  private hover(tokens: string[], t: number, next: ArrayLike<number>, loss: ArrayLike<number>): string[] {
    const lines = [`token ${t} “${readableToken(tokens[t] ?? "")}”`];
    if (t + 1 < tokens.length && Number.isFinite(loss[t] as number)) {
      lines.push(
        `next “${readableToken(tokens[t + 1] ?? "")}”: p ${pct(next[t] as number)}`,
        `loss ${fmt(loss[t] as number)}`,
      );
    } else lines.push(t + 1 < tokens.length ? "next token not scored" : "the last token: nothing follows");
    return lines;
  }

  private select(position: number): void {
    this.host.model.set("position", position);
    this.host.commit(false);
  }

  private topTokens(data: PanelData<Meta>, m: Meta, p: number, tokens: string[]): HTMLElement {
    const k = data.shapes.get("ids")?.[1] ?? 0;
    const ids = data.arrays.get("ids") ?? new Int32Array(0);
    const probs = data.arrays.get("probs") ?? new Float32Array(0);
    const actual = tokens[p + 1];
    const inputIds = data.arrays.get("input_ids"); // the input's own ids: match by id
    const actualId = inputIds && p + 1 < inputIds.length ? Number(inputIds[p + 1]) : undefined;
    const items = [];
    let top = 1e-9;
    for (let j = 0; j < k; j++) top = Math.max(top, probs[p * k + j] ?? 0);
    let found = false;
    for (let j = 0; j < k; j++) {
      const name = m.names[String(ids[p * k + j])] ?? String(ids[p * k + j]);
      const isNext =
        actualId !== undefined
          ? Number(ids[p * k + j]) === actualId
          : actual !== undefined && name === actual;
      found ||= isNext;
      const prob = probs[p * k + j] as number;
      items.push({
        label: readableToken(name),
        fraction: prob / top,
        text: wasText(prob, data.arrays.get("clean_probs")?.[p * k + j]),
        mark: isNext ? "next" : undefined,
      });
    }
    const box = h(
      "div",
      { class: "acts-outputs-top", "data-position": p },
      h("div", {
        class: "acts-detail-title",
        text: `Top ${k} next tokens after “${readableToken(tokens[p] ?? "")}” (position ${p})`,
      }),
      barList(items),
    );
    if (actual !== undefined && !found) {
      const next = data.arrays.get("next_prob")?.[p] ?? Number.NaN;
      box.append(
        h("div", {
          class: "acts-hint",
          text: `the actual next token “${readableToken(actual)}” is not among them (p ${pct(next)})`,
        }),
      );
    }
    return box;
  }
}
