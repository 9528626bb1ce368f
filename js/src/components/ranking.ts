// The top units of the current layer for the current input: by max, by mean, or by the
// number of positions where they are active (count: a lens's features, ReLU neurons).
import { clear, fmt, h, readableToken } from "../dom";
import type { LayerData, Ranking } from "../layouts/data";
import { type RankBy, rankByValues } from "../traits";
import "./ranking.css";

export class RankingPanel {
  readonly el = h("div", { class: "acts-ranking" });
  private by: RankBy = "max";
  private title = h("div", { class: "acts-panel-title", text: "Top units" });
  private toggle = h("div", { class: "acts-seg", role: "group", "aria-label": "Rank by" });
  private list = h("ol", { class: "acts-rank-list" });
  private data: LayerData | null = null;
  private unit: number | null = null;
  private word = "unit";

  constructor(private onUnit: (unit: number) => void) {
    for (const by of rankByValues) {
      const b = h("button", {
        class: "acts-btn",
        type: "button",
        "data-by": by,
        text: by,
        title: `Rank by ${by}`,
      });
      b.addEventListener("click", () => {
        this.by = by;
        this.draw();
      });
      this.toggle.append(b);
    }
    this.el.append(this.title, this.toggle, this.list);
    this.list.addEventListener("click", (e) => {
      const row = (e.target as HTMLElement).closest<HTMLElement>(".acts-rank-row");
      if (row?.dataset.unit) this.onUnit(Number(row.dataset.unit));
    });
  }

  /** Draw the ranking of `data`; `word` is what its units are called ("feature"...). */
  render(data: LayerData | null, unit: number | null, word = "unit"): void {
    this.title.textContent = `Top ${word}s`;
    this.word = word;
    this.data = data;
    this.unit = unit;
    this.draw();
  }

  setUnit(unit: number | null): void {
    this.unit = unit;
    for (const row of this.list.querySelectorAll<HTMLElement>(".acts-rank-row")) {
      row.classList.toggle("acts-selected", Number(row.dataset.unit) === unit);
    }
  }

  private draw(): void {
    const data = this.data;
    const single = data?.meta.kind === "vector"; // one position: a count says nothing
    const by: RankBy = single && this.by === "count" ? "max" : this.by;
    for (const b of this.toggle.querySelectorAll<HTMLElement>("button")) {
      b.classList.toggle("acts-on", b.dataset.by === by);
      b.hidden = single && b.dataset.by === "count";
    }
    clear(this.list);
    if (!data) return;
    const r: Ranking = data.ranking[by];
    const positions = data.meta.kind === "sequence" ? (data.meta.shape[0] ?? 0) : 0;
    for (let i = 0; i < r.units.length; i++) {
      const u = r.units[i] as number;
      const [maxV, meanV] = [r.max[i] as number, r.mean[i] as number];
      const count = r.count[i]; // absent from views saved before counts were sent
      const main = by === "max" ? fmt(maxV) : by === "mean" ? fmt(meanV) : `${count ?? "?"}×`;
      const pos = r.argmax[i] as number;
      const active =
        count === undefined
          ? ""
          : positions
            ? `, active at ${count} of ${positions} tokens`
            : `, active at ${count} positions`;
      const row = h(
        "li",
        {
          class: `acts-rank-row${u === this.unit ? " acts-selected" : ""}`,
          "data-unit": u,
          role: "button",
          title: `${this.word} ${u}: max ${fmt(maxV)}, mean ${fmt(meanV)}${active}, peak at ${this.where(data, pos)}`,
        },
        h("span", { class: "acts-rank-unit", text: String(u) }),
        h("span", { class: "acts-rank-value", text: main }),
        h("span", { class: "acts-rank-pos", text: this.where(data, pos) }),
      );
      this.list.append(row);
    }
  }

  /** A peak position in words: a token, a (y, x) location, or nothing for vectors. */
  private where(data: LayerData, pos: number): string {
    const m = data.meta;
    if (m.kind === "sequence") {
      const tok = m.tokens?.[pos];
      return tok !== undefined ? `“${readableToken(tok)}” @${pos}` : `@${pos}`;
    }
    if (m.kind === "spatial") {
      const W = m.shape[2] ?? 1;
      return `y${Math.floor(pos / W)} x${pos % W}`;
    }
    if (m.kind === "other") return `@${pos}`;
    return "";
  }
}
