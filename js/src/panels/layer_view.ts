// The layer view panel (twin of src/actscope/widget/panels/layer_view.py): one layer for one
// input, drawn by the layout of its kind, with its colour legend and the ranking of its
// units. It draws only the view whose key answers the current selection, from the store
// (the `layer_view` trait, a snapshot, or prefetched views).
import type { AnyModel } from "@anywidget/types";
import { ColorMap, isDark, robustPeak, scaleFor } from "../colormap";
import { Legend } from "../components/legend";
import { OverviewStrip, windowStart } from "../components/overview";
import { RankingPanel } from "../components/ranking";
import type { Tooltip } from "../components/tooltip";
import { clear, h, shapeText } from "../dom";
import {
  isFailure,
  type LayerData,
  type LayerEntry,
  layerViewFromBlob,
  type SortMode,
} from "../layouts/data";
import { type KindView, unitWord } from "../layouts/kind";
import { SequenceView } from "../layouts/sequence";
import { SpatialView } from "../layouts/spatial";
import { VectorView } from "../layouts/vector";
import { storeKey, type ViewStore, windowSuffix } from "../store";
import {
  type DrawnDetail,
  type FetchRequest,
  type LayerInfo,
  type LayerViewReply,
  layerViewKey,
  type Traits,
} from "../traits";
import { asDataView, readOr } from "../wire";
import { editsTag, taggedKey } from "./edits";
import "./layer_view.css";
import { sameButUnit, savedWindow, ViewWindows } from "./windows";

export interface LayerViewHost {
  model: AnyModel<Traits>;
  root: HTMLElement;
  tooltip: Tooltip;
  store: ViewStore;
  on(event: string, fn: () => void): void;
  layerInfo(name: string): LayerInfo | undefined;
  /** True once it is clear that no kernel will answer (nothing more will arrive). */
  offline(): boolean;
  selectUnit(unit: number | null): void;
  /** A view was drawn (the explorer prefetches once the user pauses). */
  drawn(): void;
  /** Run `fn` now, or once what a click asked for is painted (`AnswerFirst`). */
  later(key: string, fn: () => void): void;
  /** Ask the kernel for a view (a window of a long one); false when it could not be sent. */
  send(msg: FetchRequest): boolean;
}

const SORT_TITLES: Record<SortMode, string> = {
  index: "Units in index order",
  max: "Units sorted by max activation on this input",
  mean: "Units sorted by mean activation on this input",
  count: "Units sorted by the number of positions where they are active (> 0) on this input",
};

export class LayerViewPanel {
  readonly head = h("div", { class: "acts-main-head" });
  readonly legend = new Legend((clip) => {
    this.clip = clip;
    this.redraw();
  });
  readonly note = h("div", { class: "acts-note" });
  readonly viewBox = h("div", { class: "acts-view" });
  readonly ranking: RankingPanel;
  readonly overview: OverviewStrip;
  /** The window shown of each long view, and the fetches that ask for one. */
  private windows: ViewWindows;
  private layerTitle = h("div", { class: "acts-layer-title" });
  private sortBox = h("div", { class: "acts-seg", role: "group", "aria-label": "Sort units" });
  private layouts: Record<"sequence" | "spatial" | "vector", KindView> = {
    sequence: new SequenceView(),
    spatial: new SpatialView(),
    vector: new VectorView(),
  };
  private active: KindView | null = null;
  private sort: SortMode = "index";
  /** Whether the user picked the sort: until then a lens's features sort by max. */
  private sortChosen = false;
  private clip = true;
  private drawnKey = "";
  private drawnPrint = "";

  constructor(private host: LayerViewHost) {
    this.ranking = new RankingPanel((u) => host.selectUnit(u));
    this.overview = new OverviewStrip(host.tooltip, (start) => this.moveWindow(start));
    this.windows = new ViewWindows((msg) => host.send(msg));
    for (const mode of ["index", "max", "mean", "count"] as const) {
      const b = h("button", { class: "acts-btn", type: "button", "data-sort": mode, text: mode });
      b.title = SORT_TITLES[mode];
      b.addEventListener("click", () => {
        this.sort = mode;
        this.sortChosen = true;
        this.redraw();
      });
      this.sortBox.append(b);
    }
    this.head.append(this.layerTitle, h("span", { class: "acts-label", text: "sort" }), this.sortBox);
    host.on("change:layer_view", () => this.onTrait());
    host.on("change:position", () => this.follow());
    this.onTrait();
  }

  /** The main column's part of this panel, in order (the ranking goes in the side column). */
  get parts(): HTMLElement[] {
    return [this.head, this.legend.el, this.note, this.overview.el, this.viewBox];
  }

  /** The key drawn on screen ("" while loading or showing a note). */
  get drawn(): string {
    return this.drawnKey;
  }

  currentKey(): string {
    return layerViewKey(this.host.model.get("input_index"), this.host.model.get("layer"));
  }

  /** Where the store files the view the selection asks for (its key and the edits). */
  storeKey(key = this.currentKey()): string {
    const model = this.host.model;
    return taggedKey(key, editsTag(model.get("edits"), model.get("edit_view")));
  }

  /** `storeKey()` of the current selection with the window shown (long views). */
  currentStoreKey(): string {
    return this.storeKey() + this.windows.suffix(this.currentKey());
  }

  /** A `layer_view` reply came (`entry`: what it stored, if it could be read): draw it if it
   * is the selection's; a window that failed says why and the first window comes back. */
  answered(reply: LayerViewReply, entry: LayerEntry | null): void {
    const asked = this.windows.answered(reply.id);
    if (asked && !entry && asked.filed === this.currentStoreKey()) {
      this.windows.reset(this.currentKey());
      this.show();
      this.overview.tell(`Positions from ${asked.start} could not be shown: ${reply.error ?? "unreadable"}`);
    }
    if (entry && storeKey(entry) === this.currentStoreKey()) this.show(); // a window, or a column
  }

  /** Show the window of the current long view that starts at `start` (asked for when not
   * stored; in a page without a kernel, only what was saved). */
  private moveWindow(start: number): void {
    const k = this.currentKey();
    if (this.host.offline()) start = this.savedStart(k, start);
    const filed = this.storeKey(k) + windowSuffix(start);
    if (this.host.offline() && !this.host.store.has(filed)) {
      this.overview.tell(
        `Positions from ${start} were not saved with this page: it holds the overview and the exact values shown. Run the notebook with a kernel to see them.`,
      );
      return;
    }
    this.windows.set(k, start);
    this.show();
  }

  /** A position selected elsewhere (a token of the outputs panel) outside the window of a
   * long view: move the window there. */
  private follow(): void {
    const p = this.host.model.get("position");
    const data = this.drawnKey ? this.host.store.peek(this.currentStoreKey()) : undefined;
    const w = data && !isFailure(data) && data.meta.kind === "sequence" ? data.meta.window : undefined;
    if (!w || p === null || p === undefined || (p >= w.start && p < w.stop)) return;
    this.moveWindow(windowStart(p, w.stop - w.start, w.positions));
  }

  /** Without a kernel: the saved window that holds the middle of the one from `start`. */
  private savedStart(k: string, start: number): number {
    const data = this.host.store.peek(this.currentStoreKey());
    const saved = data && !isFailure(data) && data.meta.window ? savedWindow(data.meta.window, start) : start;
    return this.host.store.has(this.storeKey(k) + windowSuffix(saved)) ? saved : start;
  }

  /** Ask the kernel for the window of the current view from `start` (with `unit`'s values
   * at every position). */
  private ask(start: number, unit: number | null): void {
    if (this.host.offline()) return;
    const model = this.host.model;
    this.windows.ask(this.storeKey(), model.get("layer"), model.get("input_index"), start, unit);
  }

  /** A drawn window whose column is not the selected unit's: ask for that unit's. */
  private askColumn(data: LayerEntry | undefined): void {
    const unit = this.host.model.get("unit");
    const meta = data && !isFailure(data) ? data.meta : undefined;
    const w = meta?.window;
    if (!w || unit === null || w.unit === unit) return;
    if (meta.kind !== "spatial" || unit < w.start || unit >= w.stop) this.ask(w.start, unit); // else exact
  }

  private onTrait(): void {
    const blob = asDataView(this.host.model.get("layer_view"));
    if (!blob) return;
    const key = this.currentKey();
    const data = readOr(
      () => this.host.store.putBlob(blob),
      (reason) => this.unreadable(key, reason),
    );
    if (storeKey(data) === this.storeKey(key)) this.host.later("layer_view", () => this.show());
  }

  /** The answer for `key` when what Python sent cannot be read: an error in its place. */
  private unreadable(key: string, reason: string): LayerEntry {
    const model = this.host.model;
    const error = `The view sent by Python could not be read: ${reason}`;
    const meta = { key, error, layer: model.get("layer"), input_index: model.get("input_index") };
    const edits = editsTag(model.get("edits"), model.get("edit_view"));
    const entry = { meta: edits ? { ...meta, edits } : meta, bytes: 0 };
    this.host.store.put(entry);
    return entry;
  }

  /** Keep a snapshot's views for good; unreadable entries are skipped and counted. */
  pin(blobs: Map<string, DataView>): { pinned: number; damaged: number; reason: string } {
    let damaged = 0;
    let reason = "";
    for (const blob of blobs.values()) {
      readOr(
        () => this.host.store.pin(layerViewFromBlob(blob)),
        (why) => {
          damaged++;
          reason ||= why;
        },
      );
    }
    return { pinned: this.host.store.pinnedCount, damaged, reason };
  }

  /** Draw everything again (the sort, the clip or the theme changed). */
  redraw(): void {
    this.drawnKey = "";
    this.show();
  }

  /** The finite range of the drawn view's values (the edits bar's slider spans it). */
  valueRange(): [number, number] | null {
    const data = this.drawnKey ? this.host.store.get(this.currentStoreKey()) : undefined;
    if (!data || isFailure(data) || !Number.isFinite(data.meta.min)) return null;
    return [data.meta.min, data.meta.max];
  }

  setUnit(unit: number | null): void {
    this.active?.setUnit(unit);
    this.ranking.setUnit(unit);
    if (this.drawnKey) this.askColumn(this.host.store.peek(this.currentStoreKey()));
  }

  /** Show the current selection: its view if stored, else the loading state or a note. */
  show(): void {
    const { model, root } = this.host;
    const layer = model.get("layer");
    const input = model.get("input_index");
    const k = layerViewKey(input, layer);
    const info = this.host.layerInfo(layer);
    root.dataset.layer = layer;
    root.dataset.input = String(input);
    if (!this.sortChosen) this.sort = info?.features_of ? "max" : "index";
    for (const b of this.sortBox.querySelectorAll<HTMLElement>("button")) {
      b.classList.toggle("acts-on", b.dataset.sort === this.sort);
      b.hidden = b.dataset.sort === "count" && info?.kind === "vector"; // one position: 0 or 1
    }
    clear(this.layerTitle);
    this.layerTitle.append(
      h("span", { class: "acts-layer-name", text: layer }),
      h("span", { class: "acts-type", text: info?.type ?? "" }),
      h("span", { class: "acts-shape", text: shapeText(info?.shape) }),
    );
    const start = this.windows.start(k);
    const data = this.host.store.get(this.storeKey(k) + windowSuffix(start ?? 0));
    if (!data || data.meta.key !== k) {
      if (start !== undefined) this.ask(start, model.get("unit"));
      this.loading(info, k);
      return;
    }
    const print = fingerprint(data);
    if (this.drawnKey === k && this.drawnPrint === print) return;
    const same = this.drawnKey === k && sameButUnit(this.drawnPrint, print);
    if (same && this.active?.refresh && !isFailure(data)) {
      this.active.refresh(data); // only the selected unit's column came: keep the scroll
      this.drawnPrint = print;
      this.askColumn(data); // a late reply for another unit: ask again for the selected one
      return;
    }
    this.draw(data, info);
    this.askColumn(data);
    this.drawnKey = k;
    this.drawnPrint = print;
    root.dataset.drawn = k;
    root.classList.remove("acts-loading");
    root.dispatchEvent(
      new CustomEvent("actscope:drawn", {
        bubbles: true,
        detail: { layer, input_index: input, t: performance.now() } satisfies DrawnDetail,
      }),
    );
    this.host.drawn();
  }

  private loading(info: LayerInfo | undefined, k: string): void {
    this.host.root.dataset.drawn = "";
    this.drawnKey = "";
    if (info?.kind === "none") {
      this.showNote(
        `${info.name} (${info.type}) returned no tensor${info.calls === 0 ? ": it did not run for this input" : ""}. Pick another layer.`,
        k,
      );
      return;
    }
    if (this.host.offline()) {
      this.showNote(
        "This view was not saved with the page. Run the notebook with a kernel (or include it in ex.snapshot(...)) to see it.",
        k,
      );
      return;
    }
    this.host.root.classList.add("acts-loading");
  }

  /** A note instead of a view (nothing to draw, or an error), tagged with the key of the
   * selection it answers (`data-key`), as views are. */
  showNote(text: string, key = ""): void {
    this.host.root.classList.remove("acts-loading");
    this.active = null;
    clear(this.viewBox);
    clear(this.legend.el);
    this.ranking.render(null, null);
    this.overview.render(null);
    this.note.textContent = "";
    this.viewBox.append(h("div", { class: "acts-missing", "data-key": key, text }));
  }

  private draw(entry: LayerEntry, info: LayerInfo | undefined): void {
    if (isFailure(entry)) {
      this.showNote(entry.meta.error, entry.meta.key);
      this.viewBox.firstElementChild?.classList.add("acts-view-error");
      return;
    }
    const data = entry;
    const m = data.meta;
    const root = this.host.root;
    const dark = isDark(root);
    root.dataset.theme = dark ? "dark" : "light";
    const clip = this.clip ? (m.window?.clip ?? robustPeak(data.act)) : undefined; // a window: the layer's
    const cmap = new ColorMap(scaleFor(m.min, m.max, dark, clip));
    this.legend.render(cmap, m, this.clip);
    const notes: string[] = [];
    if (m.kind === "other") {
      notes.push(
        `Shape ${shapeText(m.layer_shape)} has no image or sequence layout: shown as positions (rows) × units (columns), units on axis ${m.unit_axis}.`,
      );
    }
    if (m.trimmed) notes.push(m.trimmed.note);
    if (info?.features_of) {
      const explained =
        m.explained === undefined
          ? ""
          : `; decoded, they explain ${(100 * m.explained).toFixed(1)}% of its variance on this input`;
      const active = m.sparse ? `, ${m.sparse.active.toLocaleString("en")} values active` : "";
      notes.push(`${m.n_units.toLocaleString("en")} features of ${info.features_of}${active}${explained}.`);
    }
    if (info && info.calls > 1)
      notes.push(
        `This module runs ${info.calls} times per forward pass; each call is its own entry (name#k).`,
      );
    this.note.textContent = notes.join(" ");
    const kind = m.kind === "spatial" ? "spatial" : m.kind === "vector" ? "vector" : "sequence";
    const view = this.layouts[kind];
    const shown = m.kind === "other" ? transposed(data) : data;
    const width = this.viewBox.clientWidth || 640;
    if (this.active !== view) {
      clear(this.viewBox);
      this.viewBox.append(view.el);
      this.active = view;
    }
    const unit = this.host.model.get("unit");
    const word = unitWord(this.host.layerInfo(m.layer));
    this.overview.render(data, cmap, word);
    view.render(shown, {
      cmap,
      tooltip: this.host.tooltip,
      sort: this.sort,
      unit,
      onUnit: (u) => this.host.selectUnit(u),
      width,
      dark,
      word,
      offline: () => this.host.offline(),
    });
    this.ranking.render(data, unit, word);
  }
}

/** A cheap identity for drawn data: skip redrawing what is already on screen. */
export function fingerprint(d: LayerEntry): string {
  if (isFailure(d)) return `${d.meta.key}|error|${d.meta.error}`;
  const a = d.act;
  let s = 0;
  const step = Math.max(1, Math.floor(a.length / 251));
  for (let i = 0; i < a.length; i += step) s = (s * 31 + (a[i] as number) * 1000) % 1e9;
  return `${storeKey(d)}|${a.length}|${s}|${d.meta.window?.unit ?? ""}`;
}

/** (units, positions) → (positions, units), so "other" layouts draw like sequences. */
export function transposed(d: LayerData): LayerData {
  const [U, P] = [d.shape[0] ?? 0, d.act.length / Math.max(d.shape[0] ?? 1, 1)];
  const out = new Float32Array(d.act.length);
  for (let u = 0; u < U; u++) for (let p = 0; p < P; p++) out[p * U + u] = d.act[u * P + p] as number;
  return {
    ...d,
    act: out,
    shape: [P, U],
    meta: { ...d.meta, kind: "sequence", tokens: undefined },
    stats: undefined,
  };
}
