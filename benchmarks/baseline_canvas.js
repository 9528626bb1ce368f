// The baseline for benchmarks/explorer.py: the least an anywidget can do to show a
// float16 (T, D) array after a click: ask Python, receive bytes, decode with a lookup
// table, putImageData. No layout, ranking or colour scale beyond grey levels.
// "request" asks Python for the next array (a round trip); "local" redraws the other of
// the last two arrays received (the data is already in the page, as after a prefetch).
const table = new Float32Array(65536);
for (let h = 0; h < 65536; h++) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const f = h & 1023;
  table[h] = e === 0 ? s * 2 ** -14 * (f / 1024) : e === 31 ? Number.NaN : s * 2 ** (e - 15) * (1 + f / 1024);
}

function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "baseline-request";
  button.textContent = "request";
  const local = document.createElement("button");
  local.className = "baseline-local";
  local.textContent = "local";
  const canvas = document.createElement("canvas");
  el.append(button, local, canvas);
  const held = [];
  button.addEventListener("click", () => {
    model.set("request", model.get("request") + 1);
    model.save_changes();
  });
  local.addEventListener("click", () => {
    held.reverse();
    draw(held[0]);
  });
  model.on("change:data", () => {
    const view = model.get("data");
    held.unshift(view);
    held.length = Math.min(held.length, 2);
    draw(view);
  });
  function draw(view) {
    const [T, D] = model.get("shape");
    const raw = new Uint16Array(view.buffer, view.byteOffset, T * D);
    canvas.width = D;
    canvas.height = T;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(D, T);
    const px = new Uint32Array(img.data.buffer);
    let peak = 1e-9;
    for (let i = 0; i < raw.length; i++) peak = Math.max(peak, Math.abs(table[raw[i]]));
    for (let i = 0; i < raw.length; i++) {
      const g = Math.round((255 * Math.abs(table[raw[i]])) / peak);
      px[i] = (255 << 24) | (g << 16) | (g << 8) | g;
    }
    ctx.putImageData(img, 0, 0);
    el.dispatchEvent(new CustomEvent("baseline:drawn", { bubbles: true, detail: { t: performance.now() } }));
  }
}

export default { render };
