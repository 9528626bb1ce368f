// The input strip: image thumbnails or text snippets around the current input, prev/next.
import { clear, h } from "../dom";
import type { InputInfo } from "../traits";
import { type Decoded, decode, readOr } from "../wire";
import "./inputs.css";

const WINDOW = 12;

export class InputStrip {
  readonly el = h("div", { class: "acts-inputs" });
  private prev = h("button", { class: "acts-btn", type: "button", title: "Previous input (←)", text: "◀" });
  private next = h("button", { class: "acts-btn", type: "button", title: "Next input (→)", text: "▶" });
  private items = h("div", { class: "acts-input-items" });
  private count = h("span", { class: "acts-count" });
  private inputs: InputInfo[] = [];
  private thumbs: Decoded | null = null;
  private current = 0;

  constructor(private onSelect: (index: number) => void) {
    this.el.append(this.prev, this.items, this.next, this.count);
    this.prev.addEventListener("click", () => this.onSelect(Math.max(0, this.current - 1)));
    this.next.addEventListener("click", () =>
      this.onSelect(Math.min(this.inputs.length - 1, this.current + 1)),
    );
    this.items.addEventListener("click", (e) => {
      const item = (e.target as HTMLElement).closest<HTMLElement>(".acts-input");
      if (item?.dataset.index) this.onSelect(Number(item.dataset.index));
    });
  }

  setInputs(inputs: InputInfo[], thumbs: DataView | null, current: number): void {
    this.inputs = inputs;
    // Thumbnails that cannot be read leave the strip with labels and texts only.
    this.thumbs = thumbs
      ? readOr<Decoded | null>(
          () => decode(thumbs),
          () => null,
        )
      : null;
    this.select(current);
  }

  select(index: number): void {
    this.current = index;
    this.draw();
  }

  private draw(): void {
    clear(this.items);
    const n = this.inputs.length;
    const start = Math.max(0, Math.min(this.current - Math.floor(WINDOW / 2), n - WINDOW));
    for (let i = start; i < Math.min(n, start + WINDOW); i++) {
      this.items.append(this.item(i, this.inputs[i] as InputInfo));
    }
    this.count.textContent = `${this.current + 1} / ${n}`;
    this.prev.disabled = this.current <= 0;
    this.next.disabled = this.current >= n - 1;
  }

  private item(i: number, info: InputInfo): HTMLElement {
    const on = i === this.current;
    const el = h("div", {
      class: `acts-input${info.text !== undefined ? " acts-input-text" : ""}${on ? " acts-selected" : ""}`,
      "data-index": i,
      role: "button",
      "aria-pressed": String(on),
      title: info.text ?? `${info.label}${info.shape ? ` (${info.shape.join("×")})` : ""}`,
    });
    const thumb = this.thumbs?.arrays.get(`t${i}`);
    const shape = this.thumbs?.shapes.get(`t${i}`);
    if (thumb instanceof Uint8Array && shape) {
      el.append(rgbCanvas(thumb, shape[0] as number, shape[1] as number, "acts-thumb"));
    } else if (info.text !== undefined) {
      el.append(h("span", { class: "acts-snippet", text: info.text }));
    }
    el.append(h("span", { class: "acts-input-label", text: info.label }));
    return el;
  }
}

/** A canvas showing an RGB uint8 image (H, W, 3). */
export function rgbCanvas(rgb: Uint8Array, height: number, width: number, cls: string): HTMLCanvasElement {
  const canvas = h("canvas", { class: cls, width, height });
  const ctx = canvas.getContext("2d");
  if (ctx) {
    const img = ctx.createImageData(width, height);
    for (let p = 0, q = 0; p < width * height; p++, q += 3) {
      img.data[p * 4] = rgb[q] as number;
      img.data[p * 4 + 1] = rgb[q + 1] as number;
      img.data[p * 4 + 2] = rgb[q + 2] as number;
      img.data[p * 4 + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  return canvas;
}
