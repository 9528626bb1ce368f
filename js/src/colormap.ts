// Colour scales shared by every view: diverging for signed data, sequential otherwise,
// adapted to a light or dark background. NaN and ±Inf get colours no scale uses.

export interface Scale {
  lo: number;
  hi: number;
  signed: boolean;
  dark: boolean;
}

type RGB = [number, number, number];

export const NAN_RGB: RGB = [255, 0, 255];
export const POS_INF_RGB: RGB = [0, 229, 255];
export const NEG_INF_RGB: RGB = [124, 252, 0];

const DIVERGING_LIGHT: RGB[] = [
  [49, 54, 149],
  [69, 117, 180],
  [116, 173, 209],
  [224, 243, 248],
  [255, 255, 255],
  [254, 224, 144],
  [244, 109, 67],
  [215, 48, 39],
  [165, 0, 38],
]; // prettier-ignore
const DIVERGING_DARK: RGB[] = [
  [120, 170, 255],
  [70, 120, 220],
  [40, 70, 150],
  [25, 35, 70],
  [20, 20, 20],
  [80, 30, 20],
  [170, 60, 30],
  [240, 120, 40],
  [255, 210, 90],
]; // prettier-ignore
const SEQUENTIAL_LIGHT: RGB[] = [
  [255, 255, 255],
  [254, 232, 200],
  [253, 187, 132],
  [252, 141, 89],
  [227, 74, 51],
  [179, 0, 0],
  [110, 0, 0],
]; // prettier-ignore
const SEQUENTIAL_DARK: RGB[] = [
  [20, 20, 20],
  [60, 15, 90],
  [120, 28, 109],
  [187, 55, 84],
  [237, 105, 37],
  [251, 180, 26],
  [252, 255, 164],
]; // prettier-ignore

function interpolate(stops: RGB[], t: number): RGB {
  const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  const f = x - i;
  const a = stops[i] as RGB;
  const b = stops[i + 1] as RGB;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

function pack([r, g, b]: RGB, alpha = 255): number {
  // ImageData is RGBA bytes; viewed as Uint32 on little-endian machines that is ABGR.
  return ((alpha << 24) | (Math.round(b) << 16) | (Math.round(g) << 8) | Math.round(r)) >>> 0;
}

// Odd, so that zero on a symmetric scale lands exactly on the middle colour.
const LUT_SIZE = 257;

export class ColorMap {
  readonly lut: Uint32Array;
  readonly nan = pack(NAN_RGB);
  readonly posInf = pack(POS_INF_RGB);
  readonly negInf = pack(NEG_INF_RGB);

  constructor(readonly scale: Scale) {
    const stops = scale.signed
      ? scale.dark
        ? DIVERGING_DARK
        : DIVERGING_LIGHT
      : scale.dark
        ? SEQUENTIAL_DARK
        : SEQUENTIAL_LIGHT;
    this.lut = new Uint32Array(LUT_SIZE);
    for (let i = 0; i < LUT_SIZE; i++) this.lut[i] = pack(interpolate(stops, i / (LUT_SIZE - 1)));
  }

  /** LUT index of a finite value. */
  index(v: number): number {
    const { lo, hi } = this.scale;
    const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    return Math.min(LUT_SIZE - 1, Math.max(0, Math.round(t * (LUT_SIZE - 1))));
  }

  /** Packed RGBA (little-endian Uint32) of any value, NaN and ±Inf included. */
  color(v: number): number {
    if (Number.isNaN(v)) return this.nan;
    if (v === Number.POSITIVE_INFINITY) return this.posInf;
    if (v === Number.NEGATIVE_INFINITY) return this.negInf;
    return this.lut[this.index(v)] as number;
  }

  /** CSS colour of a value. */
  css(v: number): string {
    const c = this.color(v);
    return `rgb(${c & 255},${(c >>> 8) & 255},${(c >>> 16) & 255})`;
  }

  /** A readable text colour on the colour of `v`. */
  textOn(v: number): string {
    const c = this.color(v);
    const lum = 0.2126 * (c & 255) + 0.7152 * ((c >>> 8) & 255) + 0.0722 * ((c >>> 16) & 255);
    return lum < 140 ? "#fff" : "#111";
  }

  /** Fill `out` (RGBA pixels as Uint32) with the colours of `values`, in order. */
  paint(values: ArrayLike<number>, out: Uint32Array, order?: ArrayLike<number>): void {
    const { lo, hi } = this.scale;
    const k = hi > lo ? (LUT_SIZE - 1) / (hi - lo) : 0;
    const mid = (LUT_SIZE - 1) / 2;
    const n = order ? order.length : values.length;
    for (let i = 0; i < n; i++) {
      const v = values[order ? (order[i] as number) : i] as number;
      if (v - v !== 0) {
        out[i] = this.color(v); // NaN or ±Inf
      } else {
        const j = Math.min(LUT_SIZE - 1, Math.max(0, k ? Math.round((v - lo) * k) : mid));
        out[i] = this.lut[j] as number;
      }
    }
  }
}

/** Below this share of the other side, a sign is treated as noise (GELU's small dip). */
const MINOR_SIDE = 0.1;

/**
 * The scale for data with this finite range: symmetric when values of both signs matter,
 * sequential from zero otherwise. `clip` (a robust peak) caps the range so one outlier does
 * not wash out everything else; values beyond it saturate.
 */
export function scaleFor(min: number, max: number, dark: boolean, clip?: number): Scale {
  const pos = Math.max(max, 0);
  const neg = Math.max(-min, 0);
  const cap = (m: number): number => (clip !== undefined && clip > 0 ? Math.min(m, clip) : m);
  if (neg > MINOR_SIDE * pos && pos > MINOR_SIDE * neg) {
    const m = cap(Math.max(neg, pos));
    return { lo: -m, hi: m, signed: true, dark };
  }
  if (neg > pos) {
    const m = cap(neg);
    return { lo: -m, hi: m, signed: true, dark };
  }
  return { lo: 0, hi: cap(pos) || 1, signed: false, dark };
}

/** The `q` quantile of |finite values|, estimated from an even sample of at most 4,096. */
export function robustPeak(values: ArrayLike<number>, q = 0.999): number {
  const n = values.length;
  const step = Math.max(1, Math.floor(n / 4096));
  const sample: number[] = [];
  for (let i = 0; i < n; i += step) {
    const v = values[i] as number;
    if (v - v === 0) sample.push(Math.abs(v));
  }
  if (!sample.length) return 0;
  sample.sort((a, b) => a - b);
  return sample[Math.min(sample.length - 1, Math.floor(q * (sample.length - 1)))] as number;
}

/** Whether an element sits on a dark background (JupyterLab / VS Code themes). */
export function isDark(el: Element): boolean {
  let node: Element | null = el;
  while (node) {
    const bg = getComputedStyle(node).backgroundColor;
    const m = bg.match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?/);
    if (m && (m[4] === undefined || Number(m[4]) > 0.5)) {
      const [r, g, b] = [Number(m[1]), Number(m[2]), Number(m[3])];
      return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
    }
    node = node.parentElement;
  }
  return false;
}

const THEME_ATTRIBUTES = ["class", "data-jp-theme-light", "data-jp-theme-name", "data-vscode-theme-kind"];

/** Call `onChange` when `el` turns from light to dark or back (JupyterLab and VS Code mark a
 * theme switch on the body). Returns a function that stops watching. */
export function watchTheme(el: Element, onChange: (dark: boolean) => void): () => void {
  if (typeof MutationObserver === "undefined") return () => {};
  let dark = isDark(el);
  const watch = new MutationObserver(() => {
    const now = isDark(el);
    if (now === dark) return;
    dark = now;
    onChange(dark);
  });
  watch.observe(document.body, { attributes: true, attributeFilter: THEME_ATTRIBUTES });
  return () => watch.disconnect();
}
