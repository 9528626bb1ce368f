// The explorer (twin of src/actscope/widget/explorer.py): the layout, the selection (layer,
// input, unit) and the keyboard, the status and the job (shown by the header), and the
// wiring of the panels (panels/), each of which owns its traits. Everything drawn comes from
// traits (or, for speed, views prefetched over custom messages while a kernel is live), so
// a saved notebook or an exported page renders with no kernel.
// The shell's styles come first: the panels' and components' own styles build on them.
import "./explorer.css";
import type { AnyModel } from "@anywidget/types";
import { AnswerFirst } from "./answer";
import { isDark, watchTheme } from "./colormap";
import { Header } from "./components/header";
import { InputStrip } from "./components/inputs";
import { Tooltip } from "./components/tooltip";
import { LayerTree } from "./components/tree";
import { h } from "./dom";
import { isFailure, type LayerEntry } from "./layouts/data";
import { AttentionPanel } from "./panels/attention";
import { EditsPanel } from "./panels/edits";
import { EffectsPanel } from "./panels/effects";
import { ExamplesPanel } from "./panels/examples";
import { LayerViewPanel } from "./panels/layer_view";
import { LensPanel } from "./panels/lens";
import { OutputsPanel } from "./panels/outputs";
import { PatchingPanel } from "./panels/patching";
import { SaliencyPanel } from "./panels/saliency";
import { SpecificPanel } from "./panels/specific";
import { Prefetcher } from "./prefetch";
import { decodeSnapshot } from "./snapshot";
import { storeBudget, ViewStore } from "./store";
import { type LayerInfo, layerViewKey, type Reply, type Request, type Traits } from "./traits";
import { asDataView, readOr } from "./wire";

const HELLO_TIMEOUT_MS = 2000;
const KEY_DEBOUNCE_MS = 60;

type Model = AnyModel<Traits>;

export class ExplorerView {
  readonly root = h("div", {
    class: "acts-root",
    tabindex: 0,
    "aria-label": "actscope explorer: arrow keys move through layers (up/down) and inputs (left/right)",
  });
  private store = new ViewStore();
  private tooltip = new Tooltip(this.root);
  private tree = new LayerTree((name) => this.selectLayer(name));
  private strip = new InputStrip((i) => this.selectInput(i));
  private layerView: LayerViewPanel;
  private saliency: SaliencyPanel;
  private examples: ExamplesPanel;
  private outputs: OutputsPanel;
  private attention: AttentionPanel;
  private lens: LensPanel;
  private effects: EffectsPanel;
  private specific: SpecificPanel;
  private edits: EditsPanel;
  private patching: PatchingPanel;
  private prefetcher: Prefetcher;
  private header = new Header(() => this.send({ type: "cancel" }));
  private layers = new Map<string, LayerInfo>();
  private live = false;
  private helloDone = false;
  private pendingSend: ReturnType<typeof setTimeout> | undefined;
  private listeners: [string, (...args: unknown[]) => void][] = [];
  private unwatchTheme: () => void;
  private helloTimer: ReturnType<typeof setTimeout> | undefined;
  private answer = new AnswerFirst();

  constructor(
    private model: Model,
    el: HTMLElement,
  ) {
    el.append(this.root);
    this.onLayers();
    this.root.dataset.edited = (model.get("edits") ?? []).length ? "1" : "0";
    this.prefetcher = new Prefetcher({
      ready: () => this.live && this.layerView.drawn !== "" && model.get("prefetch") !== false,
      query: () => ({
        layers: [...this.layers.values()],
        layer: model.get("layer"),
        inputIndex: model.get("input_index"),
        inputCount: (model.get("inputs_info") ?? []).length,
        has: (key) => this.store.has(this.layerView.storeKey(key)),
        room: this.store.room,
      }),
      send: (msg) => this.send(msg),
      busy: (on) => {
        this.root.dataset.prefetching = on ? "1" : "0";
      },
    });
    // What the panels may use of the explorer (each takes the part it needs).
    const host = {
      model,
      root: this.root,
      tooltip: this.tooltip,
      store: this.store,
      on: (event: string, fn: () => void) => this.on(event, fn),
      layerInfo: (name: string) => this.layers.get(name),
      live: () => this.live,
      offline: () => !this.live && this.helloDone,
      isDark: () => isDark(this.root),
      selectUnit: (unit: number | null) => this.selectUnit(unit),
      commit: (debounce: boolean) => this.commit(debounce),
      send: (msg: Request) => this.send(msg),
      drawn: () => this.prefetcher.whenIdle(),
      later: (key: string, fn: () => void) => this.answer.run(key, fn),
      languageModel: () => this.outputs.task() === "next_tokens",
      valueRange: () => {
        const mined = this.examples.minedRange();
        if (mined) return { range: mined, what: "this unit's range over the mined data" };
        const view = this.layerView.valueRange();
        return view ? { range: view, what: "this layer's values on this input" } : null;
      },
    };
    this.layerView = new LayerViewPanel(host);
    this.outputs = new OutputsPanel(host); // before saliency, which asks it for the task
    this.saliency = new SaliencyPanel(host);
    this.examples = new ExamplesPanel(host);
    this.attention = new AttentionPanel(host);
    this.lens = new LensPanel(host);
    this.effects = new EffectsPanel(host);
    this.specific = new SpecificPanel(host);
    this.edits = new EditsPanel(host);
    this.patching = new PatchingPanel(host);
    this.store.setBudget(storeBudget(this.model.get("store_bytes") ?? 0));
    this.store.watch((data) => this.showExplained(data));
    this.showExplained(); // the first view is in the store already
    this.layout();
    this.listen();
    this.onInputs();
    this.onStatus(true);
    this.onJob();
    this.layerView.show();
    this.hello();
    // Redraw when JupyterLab or VS Code switch between light and dark themes.
    this.unwatchTheme = watchTheme(this.root, () => {
      this.layerView.redraw();
      const { saliency, outputs, attention, lens, effects, specific, patching } = this;
      // their colour scales follow the theme too
      for (const panel of [saliency, outputs, attention, lens, effects, specific, patching]) panel.redraw();
    });
    void this.loadSnapshot();
  }

  dispose(): void {
    for (const [event, fn] of this.listeners) this.model.off(event as "msg:custom", fn);
    clearTimeout(this.helloTimer);
    this.answer.dispose();
    this.unwatchTheme();
    clearTimeout(this.pendingSend);
    this.prefetcher.dispose();
    this.root.remove();
  }

  private layout(): void {
    const main = h(
      "div",
      { class: "acts-main" },
      this.strip.el,
      this.edits.el,
      this.outputs.el,
      ...this.layerView.parts,
      // the selected unit's panels right under the view it is picked in
      this.effects.el,
      this.examples.el,
      this.attention.el,
      this.lens.el,
      this.patching.el,
      this.saliency.el,
    );
    const side = h("div", { class: "acts-side" }, this.layerView.ranking.el, this.specific.el);
    const body = h("div", { class: "acts-body" }, this.tree.el, main, side);
    this.root.append(this.header.el, this.header.banner, body);
    this.root.addEventListener("keydown", (e) => this.onKey(e));
  }

  // Traits ---------------------------------------------------------------------------------
  private on(event: string, fn: (...args: unknown[]) => void): void {
    this.model.on(event, fn);
    this.listeners.push([event, fn]);
  }

  private listen(): void {
    this.on("change:layers_info", () => this.onLayers());
    this.on("change:inputs_info", () => this.onInputs());
    this.on("change:thumbs", () => this.onInputs());
    this.on("change:status", () => this.onStatus());
    this.on("change:job", () => this.onJob());
    // The saliency key holds the input (and the layer, for a unit target): without a kernel
    // to send a new map, the panel must look up the snapshot's map itself.
    const selected = (): void => {
      this.prefetcher.selected();
      queueMicrotask(() => this.layerView.show()); // once layer and unit are both set
      this.saliency.show();
    };
    this.on("change:layer", () => {
      this.tree.select(this.model.get("layer"));
      selected();
      this.attention.show();
      this.effects.show();
      this.specific.show();
    });
    this.on("change:input_index", () => {
      this.strip.select(this.model.get("input_index"));
      selected();
      this.showExplained();
      for (const panel of [this.outputs, this.attention, this.lens, this.specific]) panel.show();
    });
    this.on("change:position", () => {
      for (const panel of [this.outputs, this.lens, this.saliency]) panel.show();
    });
    this.on("change:outputs_view", () => {
      this.saliency.show(); // "next token" for an LM
      this.answer.answered();
    });
    this.on("change:unit", () => this.onUnit());
    // Edits: every view downstream again (Python sends them) once the edited outputs, what
    // the click asked, are painted.
    this.on("change:edits", () => {
      if (this.live) this.answer.hold();
      queueMicrotask(() =>
        this.answer.run("edits", () => {
          this.root.dataset.edited = (this.model.get("edits") ?? []).length ? "1" : "0";
          this.layerView.show();
          this.showPanels();
          this.showExplained();
        }),
      );
    });
    this.on("change:edit_view", () => {
      this.layerView.show();
      this.showExplained();
    });
    this.on("change:prefetch", () => this.prefetcher.run());
    this.on("change:store_bytes", () => this.store.setBudget(storeBudget(this.model.get("store_bytes"))));
    this.on("change:snapshot_data", () => void this.loadSnapshot());
    this.on("msg:custom", (msg, buffers) => this.onReply(msg as Reply, buffers as DataView[]));
  }

  private onLayers(): void {
    const infos = this.model.get("layers_info") ?? [];
    this.layers = new Map(infos.map((l) => [l.name, l]));
    this.tree.setLayers(infos, this.model.get("layer"));
    this.showExplained();
  }

  /** Beside each lens in the tree: what it explains on this input, from its view once in the
   * store (sent, prefetched or saved); `stored`: a view just put there (a lens's matters). */
  private showExplained(stored?: LayerEntry): void {
    // (also called from the constructor, before the layer view exists)
    if (!this.layerView || (stored && !this.layers.get(stored.meta.layer ?? "")?.features_of)) return;
    const shares = new Map<string, number>();
    const input = this.model.get("input_index");
    for (const [name, info] of this.layers) {
      if (!info.features_of) continue;
      const data = this.store.peek(this.layerView.storeKey(layerViewKey(input, name)));
      const share = data && !isFailure(data) ? data.meta.explained : undefined;
      if (share !== undefined) shares.set(name, share);
    }
    this.tree.setExplained(shares);
  }

  private onInputs(): void {
    const inputs = this.model.get("inputs_info") ?? [];
    this.strip.setInputs(inputs, asDataView(this.model.get("thumbs")), this.model.get("input_index"));
  }

  private onStatus(initial = false): void {
    const status = this.model.get("status") ?? { state: "ready", message: "" };
    this.header.status(status, this.model.get("model_info"), initial);
  }

  private onJob(): void {
    this.header.job(this.model.get("job") ?? {});
    this.saliency.show(); // "computing…" while a saliency job runs
  }

  private onUnit(): void {
    const unit = this.model.get("unit");
    this.root.dataset.unit = unit === null ? "" : String(unit);
    this.layerView.setUnit(unit);
    this.saliency.show();
    this.examples.show();
    this.effects.show();
    this.specific.show();
  }

  /** Show what each panel has for the selection (once it is clear whether a kernel answers). */
  private showPanels(): void {
    const { saliency, examples, outputs, attention, lens, effects, specific, edits, patching } = this;
    for (const panel of [saliency, examples, outputs, attention, lens, effects, specific, edits, patching])
      panel.show();
  }

  /** Pin every entry of the snapshot trait into the panels (inflated natively). */
  private async loadSnapshot(): Promise<void> {
    const blob = asDataView(this.model.get("snapshot_data"));
    if (!blob) return;
    let damage = "";
    try {
      const snap = await decodeSnapshot(blob);
      const views = this.layerView.pin(snap.layer_view);
      this.root.dataset.snapshot = String(views.pinned);
      if (views.damaged) {
        damage = `${views.damaged} of ${snap.layer_view.size} saved views are damaged (${views.reason})`;
      }
      this.saliency.loadSnapshot(snap.saliency);
      this.examples.loadSnapshot(snap.examples);
      this.outputs.loadSnapshot(snap.outputs);
      this.attention.loadSnapshot(snap.attention);
      this.lens.loadSnapshot(snap.lens);
      this.effects.loadSnapshot(snap.effects);
      this.specific.loadSnapshot(snap.specific);
    } catch (err) {
      this.layerView.showNote(`The saved snapshot could not be read: ${String(err)}`);
      return;
    }
    if (!this.layerView.drawn) this.layerView.show();
    if (damage && !this.layerView.drawn)
      this.layerView.showNote(`The saved snapshot could not be read in full: ${damage}.`);
    this.showPanels();
  }

  // Selection ------------------------------------------------------------------------------
  /** Send the changed traits: at once, or after a keyboard pause (one message per burst). */
  private commit(debounce: boolean): void {
    clearTimeout(this.pendingSend);
    this.pendingSend = debounce ? setTimeout(() => this.model.save_changes(), KEY_DEBOUNCE_MS) : undefined;
    if (!debounce) this.model.save_changes();
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
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const next = this.tree.neighbour(e.key === "ArrowDown" ? 1 : -1);
      if (next) this.selectLayer(next, true);
    } else if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      this.selectInput(this.model.get("input_index") + (e.key === "ArrowRight" ? 1 : -1), true);
    } else if (e.key === "Escape") {
      this.selectUnit(null);
    } else {
      return;
    }
    // Ours alone: keep the notebook from moving between cells too.
    e.preventDefault();
    e.stopPropagation();
  }

  // Talking to the kernel (optional) -------------------------------------------------------
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
      // No kernel at all (a standalone page): say now what was not saved, not "loading".
      this.helloDone = true;
      if (!this.layerView.drawn) this.layerView.show();
      this.showPanels();
      return;
    }
    this.helloTimer = setTimeout(() => {
      this.helloDone = true;
      if (this.live) return;
      if (!this.layerView.drawn) this.layerView.show();
      this.showPanels();
    }, HELLO_TIMEOUT_MS);
  }

  private onReply(msg: Reply, buffers: DataView[]): void {
    if (msg.type === "hello") {
      this.live = true;
      this.helloDone = true;
      this.patching.show(); // its Run button needs the kernel
      this.prefetcher.whenIdle();
      return;
    }
    if (msg.type !== "layer_view") return;
    const blob = msg.error ? undefined : buffers?.[0];
    // A prefetched blob that cannot be read is a failed fetch: the view loads when opened.
    const entry = blob
      ? readOr(
          () => this.store.putBlob(blob),
          () => null,
        )
      : null;
    this.layerView.answered(msg, entry);
    this.prefetcher.answered(msg, entry !== null);
  }
}
