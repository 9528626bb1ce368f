// What every per-kind layout (sequence, spatial, vector) shares: the interface the layer view
// draws through, and pixel canvases.
import type { ColorMap } from "../colormap";
import type { Tooltip } from "../components/tooltip";
import { h } from "../dom";
import type { LayerInfo } from "../traits";
import type { LayerData, SortMode } from "./data";
import "./kind.css";

export interface ViewContext {
  cmap: ColorMap;
  tooltip: Tooltip;
  sort: SortMode;
  unit: number | null;
  onUnit: (unit: number) => void;
  /** Width available to the view, in CSS pixels. */
  width: number;
  dark: boolean;
  /** What a unit of this layer is called: "neuron", "channel", "feature" or "unit". */
  word: string;
  /** True once no kernel will answer (an exported page): nothing more will arrive. */
  offline?: () => boolean;
}

/** What a unit of a layer is called: a lens's "feature", else by the layer's view kind. */
export function unitWord(info: { features_of?: string; kind?: string } | undefined): string {
  if (info?.features_of) return "feature";
  if (info?.kind === "spatial") return "channel";
  if (info?.kind === "sequence") return "neuron";
  return "unit";
}

/** What a unit of the layer named `layer` is called, from the explorer's `layers_info`. */
export function layerWord(infos: readonly LayerInfo[] | undefined, layer: string | undefined): string {
  return unitWord(infos?.find((info) => info.name === layer));
}

/** `word` with a capital first letter. */
export function capital(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

export interface KindView {
  readonly el: HTMLElement;
  /** Draw `data` from scratch. */
  render(data: LayerData, ctx: ViewContext): void;
  /** Show a newly selected unit without redrawing everything. */
  setUnit(unit: number | null): void;
  /** The same view with more of it (a long view's selected column): keep what is on screen. */
  refresh?(data: LayerData): void;
}

/** A canvas of `width × height` pixels filled through a packed-RGBA callback. */
export function pixelCanvas(
  width: number,
  height: number,
  fill: (px: Uint32Array) => void,
  cls = "acts-pixels",
): HTMLCanvasElement {
  const canvas = h("canvas", { class: cls, width: Math.max(1, width), height: Math.max(1, height) });
  const ctx = canvas.getContext("2d");
  if (ctx && width > 0 && height > 0) {
    const img = ctx.createImageData(width, height);
    fill(new Uint32Array(img.data.buffer));
    ctx.putImageData(img, 0, 0);
  }
  return canvas;
}

/** The cell under the mouse on a canvas drawn at `cw × ch` CSS pixels per cell. */
export function cellAt(e: MouseEvent, canvas: HTMLElement, cw: number, ch: number): [number, number] {
  const box = canvas.getBoundingClientRect();
  return [Math.floor((e.clientY - box.top) / ch), Math.floor((e.clientX - box.left) / cw)];
}
