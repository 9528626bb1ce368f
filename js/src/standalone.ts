// Mounting the explorer in a standalone page (`Explorer.to_html`): no Jupyter, no kernel.
// A small in-page model plays the part of the widget manager's model, holding the saved
// traits; nothing is sent anywhere.
import type { AnyModel } from "@anywidget/types";
import { ExplorerView } from "./explorer";
import type { Traits } from "./traits";

// biome-ignore lint/suspicious/noExplicitAny: the AnyModel interface takes untyped handlers
type Handler = (...args: any[]) => void;

/** How `src/actscope/widget/export_page.py` writes bytes traits into the page's JSON. */
interface Base64Value {
  $b64: string;
}

function isBase64(v: unknown): v is Base64Value {
  return typeof v === "object" && v !== null && "$b64" in v;
}

function fromBase64(text: string): DataView {
  const bin = atob(text);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new DataView(bytes.buffer);
}

export class StaticModel implements AnyModel<Traits> {
  private values: Record<string, unknown> = {};
  private handlers = new Map<string, Set<Handler>>();
  readonly widget_manager = {
    get_model: () => Promise.reject(new Error("no widget manager in a standalone page")),
  };

  constructor(state: Record<string, unknown>) {
    for (const [k, v] of Object.entries(state)) this.values[k] = isBase64(v) ? fromBase64(v.$b64) : v;
  }

  get<K extends keyof Traits>(key: K): Traits[K] {
    return this.values[key as string] as Traits[K];
  }

  set<K extends keyof Traits>(key: K, value: Traits[K]): void {
    if (this.values[key as string] === value) return;
    this.values[key as string] = value;
    for (const fn of this.handlers.get(`change:${String(key)}`) ?? []) fn();
  }

  on(event: string, fn: Handler): void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(fn);
  }

  off(event?: string | null, fn?: Handler | null): void {
    if (!event) this.handlers.clear();
    else if (!fn) this.handlers.delete(event);
    else this.handlers.get(event)?.delete(fn);
  }

  save_changes(): void {}

  send(): void {
    throw new Error("no kernel: this page is standalone");
  }
}

/** Render an explorer from saved traits into `el`. Returns a function that removes it. */
export function mountStandalone(el: HTMLElement, state: Record<string, unknown>): () => void {
  const view = new ExplorerView(new StaticModel(state), el);
  return () => view.dispose();
}
