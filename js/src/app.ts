// The explorer: lays out the panels and keeps them in step with the synced traits.
// Everything drawn comes from traits (or, for speed, data prefetched over custom messages
// while a kernel is live), so a saved notebook or exported page renders with no kernel.
import type { AnyModel } from "@anywidget/types";
import { ColorMap, isDark, robustPeak, scaleFor } from "./colormap";
import { clear, h, shapeText } from "./dom";
import type { LayerInfo, Reply, Request, Traits } from "./model";
import { ViewStore } from "./store";
import { fromDecoded, key, type LayerData, type SortMode, type ViewMeta } from "./views/data";
import { type ExamplesData, type ExamplesMeta, ExamplesPanel } from "./views/examples";
import { InputStrip } from "./views/inputs";
import type { KindView } from "./views/kind";
import { Legend } from "./views/legend";
import { RankingPanel } from "./views/ranking";
import { type SaliencyData, type SaliencyMeta, SaliencyPanel, saliencyFromDecoded } from "./views/saliency";
import { SequenceView } from "./views/sequence";
import { SpatialView } from "./views/spatial";
import { Tooltip } from "./views/tooltip";
import { LayerTree } from "./views/tree";
import { VectorView } from "./views/vector";
import { asDataView, decode, decodeAsync } from "./wire";

const HELLO_TIMEOUT_MS = 2000;
const PREFETCH_MAX_VALUES = 2_000_000;
const KEY_DEBOUNCE_MS = 60;
const PREFETCH_IDLE_MS = 300;
const PREFETCH_NEAR_LAYERS = 2;

type Model = AnyModel<Traits>;

export class ExplorerView {
  readonly root: HTMLElement;
  private store = new ViewStore();
  private tooltip: Tooltip;
  private tree: LayerTree;
  private strip: InputStrip;
  private ranking: RankingPanel;
  private legend = new Legend((clip) => {
    this.clip = clip;
    this.redraw();
  });
  private clip = true;
  private statusEl = h("span", { class: "acts-status", role: "status" });
  private taskEl = h("span", { class: "acts-task" });
  private saliencyPanel: SaliencyPanel;
  private saliencyLive: SaliencyData | null = null;
  private saliencySnap = new Map<string, SaliencyData>();
  private examplesPanel: ExamplesPanel;
  private examplesLive: ExamplesData | null = null;
  private examplesSnap = new Map<string, ExamplesData>();
  private banner = h("div", { class: "acts-banner", role: "alert" });
  private modelEl = h("span", { class: "acts-model" });
  private layerTitle = h("div", { class: "acts-layer-title" });
  private note = h("div", { class: "acts-note" });
  private viewBox = h("div", { class: "acts-view" });
  private sortBox = h("div", { class: "acts-seg", role: "group", "aria-label": "Sort units" });
  private views: Record<"sequence" | "spatial" | "vector", KindView> = {
    sequence: new SequenceView(),
    spatial: new SpatialView(),
    vector: new VectorView(),
  };
  private active: KindView | null = null;
  private layers = new Map<string, LayerInfo>();
  private sort: SortMode = "index";
  private drawn = "";
  private drawnPrint = "";
  private live = false;
  private inflight: number | null = null;
  private nextId = 1;
  private failed = new Set<string>();
  private pendingSend: ReturnType<typeof setTimeout> | null = null;
  private listeners: [string, (...args: unknown[]) => void][] = [];
  private themeWatch: MutationObserver | null = null;
  private selectedAt = 0;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private timers: ReturnType<typeof setTimeout>[] = [];

  constructor(
    private model: Model,
    el: HTMLElement,
  ) {
    this.root = h("div", {
      class: "acts-root",
      tabindex: 0,
      "aria-label": "actscope explorer: arrow keys move through layers (up/down) and inputs (left/right)",
    });
    el.append(this.root);
    this.tooltip = new Tooltip(this.root);
    this.tree = new LayerTree((name) => this.selectLayer(name));
    this.strip = new InputStrip((i) => this.selectInput(i));
    this.ranking = new RankingPanel((u) => this.selectUnit(u));
    this.saliencyPanel = new SaliencyPanel(
      (s) => {
        this.model.set("saliency_method", s.method);
        this.model.set("saliency_target", s.target);
        this.commit(false);
      },
      this.tooltip,
      () => isDark(this.root),
    );
    this.examplesPanel = new ExamplesPanel(
      {
        band: (b) => {
          this.model.set("examples_band", b);
          this.commit(false);
        },
        open: (id) => this.send({ type: "open_example", id }),
        mine: () => this.send({ type: "mine" }),
        live: () => this.live,
      },
      () => isDark(this.root),
    );
    this.layout();
    this.listen();
    this.onLayers();
    this.onInputs();
    this.onStatus();
    this.onViewTrait();
    this.onSaliencyTrait();
    this.onExamplesTrait();
    this.onTask();
    this.showCurrent();
    this.hello();
    this.watchTheme();
    void this.loadSnapshot();
  }

  /** Pin every view of the snapshot trait into the store (inflated natively). */
  private async loadSnapshot(): Promise<void> {
    const blob = asDataView(this.model.get("snapshot_data"));
    if (!blob) return;
    try {
      const container = await decodeAsync<{ keys: string[] }>(blob);
      container.meta.keys.forEach((k, n) => {
        const bytes = container.arrays.get(`e${n}`);
        if (!(bytes instanceof Uint8Array)) return;
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        if (k.startsWith("view|")) this.store.pin(fromDecoded(decode<ViewMeta>(view)));
        else if (k.startsWith("saliency|")) {
          this.saliencySnap.set(k.slice(9), saliencyFromDecoded(decode<SaliencyMeta>(view)));
        } else if (k.startsWith("examples|")) this.examplesSnap.set(k.slice(9), decode<ExamplesMeta>(view));
      });
      this.root.dataset.snapshot = String(this.store.pinnedCount);
    } catch (err) {
      this.showNote(`The saved snapshot could not be read: ${String(err)}`);
      return;
    }
    if (!this.drawn) this.showCurrent();
    this.showSaliency();
    this.showExamples();
  }

  /** Redraw when JupyterLab or VS Code switch between light and dark themes. */
  private watchTheme(): void {
    if (typeof MutationObserver === "undefined") return;
    let dark = isDark(this.root);
    this.themeWatch = new MutationObserver(() => {
      const now = isDark(this.root);
      if (now !== dark) {
        dark = now;
        this.redraw();
      }
    });
    this.themeWatch.observe(document.body, {
      attributes: true,
      attributeFilter: ["class", "data-jp-theme-light", "data-jp-theme-name", "data-vscode-theme-kind"],
    });
  }

  dispose(): void {
    for (const [event, fn] of this.listeners) this.model.off(event as "msg:custom", fn);
    for (const t of this.timers) clearTimeout(t);
    this.themeWatch?.disconnect();
    if (this.pendingSend) clearTimeout(this.pendingSend);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.root.remove();
  }

  // Layout ---------------------------------------------------------------------------------
  private layout(): void {
    for (const mode of ["index", "max", "mean"] as const) {
      const b = h("button", { class: "acts-btn", type: "button", "data-sort": mode, text: mode });
      b.title =
        mode === "index" ? "Units in index order" : `Units sorted by ${mode} activation on this input`;
      b.addEventListener("click", () => {
        this.sort = mode;
        this.redraw();
      });
      this.sortBox.append(b);
    }
    const dismiss = h("button", {
      class: "acts-btn acts-dismiss",
      type: "button",
      title: "Dismiss",
      text: "×",
    });
    dismiss.addEventListener("click", () => this.banner.classList.remove("acts-shown"));
    this.banner.append(h("span", { class: "acts-banner-text" }), dismiss);
    const header = h(
      "div",
      { class: "acts-header" },
      h("span", { class: "acts-brand", text: "actscope" }),
      this.modelEl,
      this.taskEl,
      this.statusEl,
      h("span", {
        class: "acts-help",
        text: "?",
        title: "↑/↓ layers · ←/→ inputs · Esc clears the unit · click a unit to select it",
      }),
    );
    const main = h(
      "div",
      { class: "acts-main" },
      this.strip.el,
      h(
        "div",
        { class: "acts-main-head" },
        this.layerTitle,
        h("span", { class: "acts-label", text: "sort" }),
        this.sortBox,
      ),
      this.legend.el,
      this.note,
      this.viewBox,
      this.examplesPanel.el,
      this.saliencyPanel.el,
    );
    this.root.append(
      header,
      this.banner,
      h("div", { class: "acts-body" }, this.tree.el, main, this.ranking.el),
    );
    this.root.addEventListener("keydown", (e) => this.onKey(e));
  }

  // Trait wiring ---------------------------------------------------------------------------
  private on(event: string, fn: (...args: unknown[]) => void): void {
    this.model.on(event, fn);
    this.listeners.push([event, fn]);
  }

  private listen(): void {
    this.on("change:layers_info", () => this.onLayers());
    this.on("change:inputs_info", () => this.onInputs());
    this.on("change:thumbs", () => this.onInputs());
    this.on("change:status", () => this.onStatus());
    this.on("change:view", () => this.onViewTrait());
    // The saliency panel's key holds the input (and the layer, for a unit target): without
    // a kernel to send a new map, the panel must look up the snapshot's map itself.
    this.on("change:layer", () => {
      this.selectedAt = performance.now();
      this.tree.select(this.model.get("layer"));
      queueMicrotask(() => this.showCurrent());
      this.showSaliency();
    });
    this.on("change:input_index", () => {
      this.selectedAt = performance.now();
      this.strip.select(this.model.get("input_index"));
      queueMicrotask(() => this.showCurrent());
      this.showSaliency();
    });
    this.on("change:unit", () => this.onUnit());
    this.on("change:prefetch", () => this.prefetch());
    this.on("change:snapshot_data", () => void this.loadSnapshot());
    this.on("change:saliency_method", () => this.showSaliency());
    this.on("change:saliency_target", () => this.showSaliency());
    this.on("change:saliency_view", () => this.onSaliencyTrait());
    this.on("change:task", () => this.onTask());
    this.on("change:examples", () => this.onExamplesTrait());
    this.on("change:examples_band", () => this.showExamples());
    this.on("change:mining", () => this.showExamples());
    this.on("msg:custom", (msg, buffers) => this.onReply(msg as Reply, buffers as DataView[]));
  }

  private onLayers(): void {
    const infos = this.model.get("layers_info") ?? [];
    this.layers = new Map(infos.map((l) => [l.name, l]));
    this.tree.setLayers(infos, this.model.get("layer"));
  }

  private onInputs(): void {
    this.strip.setInputs(
      this.model.get("inputs_info") ?? [],
      asDataView(this.model.get("thumbs")),
      this.model.get("input_index"),
    );
  }

  private onStatus(): void {
    const s = this.model.get("status") ?? { state: "ready", message: "" };
    const m = this.model.get("model_info");
    if (m?.name) {
      this.modelEl.textContent = `${m.name} · ${m.device}${m.dtype ? ` · ${m.dtype}` : ""} · ${m.n_params.toLocaleString()} params`;
    }
    this.statusEl.dataset.state = s.state;
    this.statusEl.textContent =
      s.state === "error" ? "error" : s.state === "busy" ? s.message || "working…" : "";
    this.statusEl.title = s.message;
    const text = this.banner.querySelector(".acts-banner-text");
    if (text) text.textContent = s.message;
    this.banner.classList.toggle("acts-shown", s.state === "error" || (s.state === "ready" && !!s.message));
    this.banner.dataset.state = s.state;
  }

  private onViewTrait(): void {
    const blob = asDataView(this.model.get("view"));
    if (!blob) return;
    const data = this.store.putBlob(blob);
    if (key(data.meta.input, data.meta.layer) === this.currentKey()) this.showCurrent();
  }

  private onUnit(): void {
    const unit = this.model.get("unit");
    this.root.dataset.unit = unit === null ? "" : String(unit);
    this.active?.setUnit(unit);
    this.ranking.setUnit(unit);
    this.showSaliency();
    this.showExamples();
  }

  private onExamplesTrait(): void {
    const blob = asDataView(this.model.get("examples"));
    this.examplesLive = blob ? decode<ExamplesMeta>(blob) : null;
    this.showExamples();
  }

  /** What the examples panel should show for the current unit (hidden without data). */
  private showExamples(): void {
    const mining = this.model.get("mining") ?? {};
    const available = Boolean(mining.has_dataset || mining.layers?.length || this.examplesSnap.size);
    const unit = this.model.get("unit");
    if (unit === null) {
      this.examplesPanel.render(
        null,
        "",
        available ? "Select a unit to see the dataset examples that drive it." : null,
      );
      return;
    }
    const k = `${this.model.get("layer")}|${unit}|${this.model.get("examples_band") ?? -1}`;
    const data = this.examplesLive?.meta.key === k ? this.examplesLive : (this.examplesSnap.get(k) ?? null);
    let note: string | null = null;
    if (!data && available) {
      note =
        this.live || !this.helloDone
          ? "loading…"
          : "These examples were not saved with the page (see ex.snapshot(units=...)).";
    }
    this.examplesPanel.render(data, k, note);
  }

  private onSaliencyTrait(): void {
    const blob = asDataView(this.model.get("saliency_view"));
    this.saliencyLive = blob ? saliencyFromDecoded(decode<SaliencyMeta>(blob)) : null;
    this.showSaliency();
  }

  private onTask(): void {
    const t = this.model.get("task") ?? {};
    clear(this.taskEl);
    this.taskEl.dataset.state = t.state ?? "";
    if (t.state === "running") {
      const bar = h("progress", { class: "acts-progress", max: 1 });
      if (t.progress != null) bar.value = t.progress;
      const cancel = h("button", { class: "acts-btn", type: "button", text: "Cancel" });
      cancel.addEventListener("click", () => this.send({ type: "cancel" }));
      this.taskEl.append(h("span", { text: `${t.kind ?? "working"}: ${t.message ?? ""}` }), bar, cancel);
    } else if (t.state === "cancelled") {
      this.taskEl.append(h("span", { class: "acts-hint", text: `${t.kind ?? "task"} cancelled` }));
    }
    this.showSaliency();
  }

  /** What the saliency panel should show for the current traits. */
  private showSaliency(): void {
    const method = this.model.get("saliency_method") ?? "";
    const target = this.model.get("saliency_target") ?? "top";
    const input = this.model.get("input_index");
    const unit = this.model.get("unit");
    const info = this.model.get("inputs_info")?.[input];
    this.saliencyPanel.setSettings({ method, target }, info?.kind === "image");
    if (!method) {
      this.saliencyPanel.render(
        null,
        "",
        "Pick a method to see which parts of the input drive the output or the selected unit.",
      );
      return;
    }
    const targetKey = target === "unit" ? `unit:${this.model.get("layer")}:${unit}` : target;
    const k = `${input}|${method}|${targetKey}`;
    const data = this.saliencyLive?.meta.key === k ? this.saliencyLive : (this.saliencySnap.get(k) ?? null);
    let note = "";
    if (!data) {
      const task = this.model.get("task") ?? {};
      if (target === "unit" && unit === null)
        note = "Select a unit (a channel or a neuron) to see what drives it.";
      else if (task.kind === "saliency" && task.state === "running") note = "computing…";
      else if (!this.live && this.helloDone)
        note = "This map was not saved with the page (see ex.snapshot(saliency=...)).";
      else note = "computing…";
    }
    this.saliencyPanel.render(data, k, note);
  }

  // Selection ------------------------------------------------------------------------------
  private currentKey(): string {
    return key(this.model.get("input_index"), this.model.get("layer"));
  }

  private commit(debounce: boolean): void {
    if (this.pendingSend) clearTimeout(this.pendingSend);
    this.pendingSend = null;
    if (!debounce) {
      this.model.save_changes();
      return;
    }
    this.pendingSend = setTimeout(() => {
      this.pendingSend = null;
      this.model.save_changes();
    }, KEY_DEBOUNCE_MS);
  }

  private selectLayer(name: string, debounce = false): void {
    if (name === this.model.get("layer")) return;
    this.model.set("layer", name);
    this.model.set("unit", null);
    this.commit(debounce);
  }

  private selectInput(index: number, debounce = false): void {
    const n = (this.model.get("inputs_info") ?? []).length;
    if (index < 0 || index >= n || index === this.model.get("input_index")) return;
    this.model.set("input_index", index);
    this.commit(debounce);
  }

  private selectUnit(unit: number | null): void {
    if (unit === this.model.get("unit")) return;
    this.model.set("unit", unit);
    this.commit(false);
  }

  private onKey(e: KeyboardEvent): void {
    if ((e.target as HTMLElement).closest("input, textarea, select")) return;
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    let handled = true;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const next = this.tree.neighbour(e.key === "ArrowDown" ? 1 : -1);
      if (next) this.selectLayer(next, true);
    } else if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      this.selectInput(this.model.get("input_index") + (e.key === "ArrowRight" ? 1 : -1), true);
    } else if (e.key === "Escape") {
      this.selectUnit(null);
    } else {
      handled = false;
    }
    if (handled) {
      // Ours alone: keep the notebook from moving between cells too.
      e.preventDefault();
      e.stopPropagation();
    }
  }

  // Drawing --------------------------------------------------------------------------------
  private redraw(): void {
    this.drawn = "";
    this.showCurrent();
    this.saliencyPanel.redraw(); // its colour scale follows the theme too
  }

  private showCurrent(): void {
    const layer = this.model.get("layer");
    const input = this.model.get("input_index");
    const k = key(input, layer);
    const info = this.layers.get(layer);
    this.root.dataset.layer = layer;
    this.root.dataset.input = String(input);
    for (const b of this.sortBox.querySelectorAll<HTMLElement>("button")) {
      b.classList.toggle("acts-on", b.dataset.sort === this.sort);
    }
    clear(this.layerTitle);
    this.layerTitle.append(
      h("span", { class: "acts-layer-name", text: layer }),
      h("span", { class: "acts-type", text: info?.type ?? "" }),
      h("span", { class: "acts-shape", text: shapeText(info?.shape) }),
    );
    const data = this.store.get(input, layer);
    if (!data) {
      this.loading(info);
      return;
    }
    const print = fingerprint(data);
    if (this.drawn === k && this.drawnPrint === print) return;
    this.draw(data, info);
    this.drawn = k;
    this.drawnPrint = print;
    this.root.dataset.drawn = k.replace("\u0000", "|");
    this.root.classList.remove("acts-loading");
    this.root.dispatchEvent(
      new CustomEvent("actscope:drawn", {
        bubbles: true,
        detail: { layer, input, t: performance.now() },
      }),
    );
    this.prefetchWhenIdle();
  }

  private loading(info: LayerInfo | undefined): void {
    this.root.dataset.drawn = "";
    this.drawn = "";
    if (info?.kind === "none") {
      this.showNote(
        `${info.name} (${info.type}) returned no tensor${info.calls === 0 ? ": it did not run for this input" : ""}. Pick another layer.`,
      );
      return;
    }
    if (!this.live && this.helloDone) {
      this.showNote(
        "This view was not saved with the page. Run the notebook with a kernel (or include it in ex.snapshot(...)) to see it.",
      );
      return;
    }
    this.root.classList.add("acts-loading");
  }

  private showNote(text: string): void {
    this.root.classList.remove("acts-loading");
    this.active = null;
    clear(this.viewBox);
    clear(this.legend.el);
    this.ranking.render(null, null);
    this.note.textContent = "";
    this.viewBox.append(h("div", { class: "acts-missing", text }));
  }

  private draw(data: LayerData, info: LayerInfo | undefined): void {
    const m = data.meta;
    if (m.error) {
      this.showNote(m.error);
      this.viewBox.firstElementChild?.classList.add("acts-view-error");
      return;
    }
    const dark = isDark(this.root);
    this.root.dataset.theme = dark ? "dark" : "light";
    const cmap = new ColorMap(scaleFor(m.min, m.max, dark, this.clip ? robustPeak(data.act) : undefined));
    this.legend.render(cmap, m, this.clip);
    const notes: string[] = [];
    if (m.kind === "other") {
      notes.push(
        `Shape ${shapeText(m.layer_shape)} has no image or sequence layout: shown as positions (rows) × units (columns), units on axis ${m.unit_axis}.`,
      );
    }
    if (m.trimmed) notes.push(m.trimmed.note);
    if (info && info.calls > 1)
      notes.push(
        `This module runs ${info.calls} times per forward pass; each call is its own entry (name#k).`,
      );
    this.note.textContent = notes.join(" ");
    const kind = m.kind === "spatial" ? "spatial" : m.kind === "vector" ? "vector" : "sequence";
    const view = this.views[kind];
    const shown = m.kind === "other" ? transposed(data) : data;
    const width = this.viewBox.clientWidth || 640;
    if (this.active !== view) {
      clear(this.viewBox);
      this.viewBox.append(view.el);
      this.active = view;
    }
    view.render(shown, {
      cmap,
      tooltip: this.tooltip,
      sort: this.sort,
      unit: this.model.get("unit"),
      onUnit: (u) => this.selectUnit(u),
      width,
      dark,
    });
    this.ranking.render(data, this.model.get("unit"));
  }

  // Talking to the kernel (optional) ---------------------------------------------------------
  private helloDone = false;

  private send(msg: Request): boolean {
    try {
      this.model.send(msg);
      return true;
    } catch {
      return false;
    }
  }

  private hello(): void {
    if (!this.send({ type: "hello" })) {
      this.helloDone = true;
      return;
    }
    this.timers.push(
      setTimeout(() => {
        this.helloDone = true;
        if (!this.live && !this.drawn) this.showCurrent();
      }, HELLO_TIMEOUT_MS),
    );
  }

  private onReply(msg: Reply, buffers: DataView[]): void {
    if (msg.type === "hello") {
      this.live = true;
      this.helloDone = true;
      this.prefetchWhenIdle();
      return;
    }
    if (msg.type !== "block") return;
    if (msg.id === this.inflight) this.inflight = null;
    const blob = buffers?.[0];
    if (msg.error || !blob) {
      this.failed.add(key(msg.input, msg.layer));
    } else {
      this.store.putBlob(blob);
      if (key(msg.input, msg.layer) === this.currentKey() && !this.drawn) this.showCurrent();
    }
    // Go on with the chain only while the user is idle; a recent selection waits its turn.
    if (performance.now() - this.selectedAt < PREFETCH_IDLE_MS) this.prefetchWhenIdle();
    else this.prefetch();
  }

  /**
   * Start prefetching once the user pauses: someone stepping quickly through inputs should
   * not queue background work ahead of their next click in the kernel.
   */
  private prefetchWhenIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      this.prefetch();
    }, PREFETCH_IDLE_MS);
  }

  /**
   * Fetch, one at a time, what the user is likely to open next: the layers just above and
   * below, then this layer of the next and the previous input (stepping with ←/→), then
   * the rest of this input's layers, nearest first.
   */
  private prefetch(): void {
    if (!this.live || this.inflight !== null || !this.drawn || this.model.get("prefetch") === false) return;
    const input = this.model.get("input_index");
    const layer = this.model.get("layer");
    const names = [...this.layers.values()].filter((l) => l.kind !== "none").map((l) => l.name);
    const at = Math.max(0, names.indexOf(layer));
    const byDistance = names
      .map((name, i) => [name, Math.abs(i - at)] as const)
      .sort((a, b) => a[1] - b[1])
      .map(([name]) => [input, name] as const);
    const count = (this.model.get("inputs_info") ?? []).length;
    const neighbours = [input + 1, input - 1]
      .filter((i) => i >= 0 && i < count)
      .map((i) => [i, layer] as const);
    const near = 1 + PREFETCH_NEAR_LAYERS; // the current layer (already drawn) and its neighbours
    const order = [...byDistance.slice(0, near), ...neighbours, ...byDistance.slice(near)];
    for (const [i, name] of order) {
      const k = key(i, name);
      if (this.failed.has(k) || this.store.has(i, name)) continue;
      const info = this.layers.get(name);
      const values = (info?.shape ?? []).reduce((a, b) => a * b, 1);
      if (values > PREFETCH_MAX_VALUES || values * 4 > this.store.room) continue;
      const id = this.nextId++;
      this.inflight = id;
      if (!this.send({ type: "fetch", id, layer: name, input: i })) this.inflight = null;
      this.root.dataset.prefetching = this.inflight === null ? "0" : "1";
      return;
    }
    this.root.dataset.prefetching = "0";
  }
}

/** A cheap identity for drawn data: skip redrawing what is already on screen. */
function fingerprint(d: LayerData): string {
  const a = d.act;
  let s = 0;
  const step = Math.max(1, Math.floor(a.length / 251));
  for (let i = 0; i < a.length; i += step) s = (s * 31 + (a[i] as number) * 1000) % 1e9;
  return `${d.meta.input}|${d.meta.layer}|${a.length}|${s}|${d.meta.error ?? ""}`;
}

/** (units, positions) → (positions, units), so "other" layouts draw like sequences. */
function transposed(d: LayerData): LayerData {
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
