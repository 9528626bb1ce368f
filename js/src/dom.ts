// Tiny DOM helpers. Text that comes from data (tokens, labels, layer names) is only ever
// set with textContent: nothing here parses HTML.

type Attrs = Record<string, string | number | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (key === "class") el.className = String(value);
    else if (key === "text") el.textContent = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child == null) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** A number for people: 3 significant digits, compact exponent for tiny/huge. */
export function fmt(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

export function shapeText(shape: number[] | null | undefined): string {
  return shape == null ? "—" : shape.length ? shape.join("×") : "scalar";
}

// Byte-level BPE (GPT-2) spells whitespace with printable stand-ins; SentencePiece a "▁".
const SPACE = /[Ġ▁]/g;
const NEWLINE = /Ċ/g;
const TAB = /ĉ/g;

/** A token as people read it: in running text (`inline`) spaces stay spaces (the chip shows
 * them); alone, a space is drawn "␣" so that a leading one is seen. Newlines are "⏎". */
export function readableToken(token: string, inline = false): string {
  return token
    .replace(SPACE, inline ? " " : "␣")
    .replace(NEWLINE, "⏎")
    .replace(TAB, "⇥");
}
