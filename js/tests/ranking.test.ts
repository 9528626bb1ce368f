// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { RankingPanel } from "../src/components/ranking";
import { isFailure, type LayerData, layerViewFromBlob } from "../src/layouts/data";
import type { Kind } from "../src/traits";
import { viewBlob } from "./helpers/encode";

function data(kind: Kind, shape: number[], extra: Record<string, unknown> = {}): LayerData {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = layerViewFromBlob(
    viewBlob("l", 0, kind, shape, new Array(n).fill(1), extra, {
      rank_max_units: { data: [2, 0], shape: [2], dtype: "i32" },
      rank_max_max: { data: [9, 4], shape: [2] },
      rank_max_mean: { data: [1, 3], shape: [2] },
      rank_max_argmax: { data: [5, 1], shape: [2], dtype: "i32" },
      rank_mean_units: { data: [0], shape: [1], dtype: "i32" },
      rank_mean_max: { data: [4], shape: [1] },
      rank_mean_mean: { data: [3], shape: [1] },
      rank_mean_argmax: { data: [1], shape: [1], dtype: "i32" },
      rank_max_count: { data: [4, 1], shape: [2], dtype: "i32" },
      rank_count_units: { data: [0, 2], shape: [2], dtype: "i32" },
      rank_count_max: { data: [4, 9], shape: [2] },
      rank_count_mean: { data: [3, 1], shape: [2] },
      rank_count_argmax: { data: [1, 5], shape: [2], dtype: "i32" },
      rank_count_count: { data: [5, 4], shape: [2], dtype: "i32" },
    }),
  );
  if (isFailure(d)) throw new Error("not data");
  return d;
}

const rows = (p: RankingPanel) => Array.from(p.el.querySelectorAll<HTMLElement>(".acts-rank-row"));

describe("RankingPanel", () => {
  it("lists the units by max with their value and peak, and by mean on request", () => {
    const p = new RankingPanel(() => {});
    p.render(data("spatial", [3, 2, 3]), null);
    expect(rows(p).map((r) => r.dataset.unit)).toEqual(["2", "0"]);
    expect(rows(p)[0]?.querySelector(".acts-rank-value")?.textContent).toBe("9");
    expect(rows(p)[0]?.querySelector(".acts-rank-pos")?.textContent).toBe("y1 x2");
    expect(rows(p)[0]?.title).toBe("unit 2: max 9, mean 1, active at 4 positions, peak at y1 x2");
    p.el.querySelector<HTMLElement>("button[data-by='mean']")?.click();
    expect(rows(p).map((r) => r.dataset.unit)).toEqual(["0"]);
    expect(rows(p)[0]?.querySelector(".acts-rank-value")?.textContent).toBe("3");
    expect(p.el.querySelector("button[data-by='mean']")?.classList.contains("acts-on")).toBe(true);
  });

  it("ranks by the positions where a unit is active, in tokens, but not for vectors", () => {
    const p = new RankingPanel(() => {});
    p.render(data("sequence", [6, 3], { tokens: ["a", "b", "c", "d", "e", "f"] }), null, "feature");
    p.el.querySelector<HTMLElement>("button[data-by='count']")?.click();
    expect(rows(p).map((r) => r.dataset.unit)).toEqual(["0", "2"]);
    expect(rows(p)[0]?.querySelector(".acts-rank-value")?.textContent).toBe("5×");
    expect(rows(p)[0]?.title).toBe("feature 0: max 4, mean 3, active at 5 of 6 tokens, peak at “b” @1");
    p.render(data("vector", [3]), null); // one position: by count means nothing, by max it is
    expect(p.el.querySelector<HTMLElement>("button[data-by='count']")?.hidden).toBe(true);
    expect(rows(p).map((r) => r.dataset.unit)).toEqual(["2", "0"]);
  });

  it("names peaks by token for sequences, as text", () => {
    const p = new RankingPanel(() => {});
    p.render(data("sequence", [6, 3], { tokens: ["a", "b", "c", "d", "e", "<i>f</i>"] }), null);
    expect(rows(p)[0]?.querySelector(".acts-rank-pos")?.textContent).toBe("“<i>f</i>” @5");
    expect(p.el.querySelector("i")).toBeNull();
    p.render(data("vector", [3]), null);
    expect(rows(p)[0]?.querySelector(".acts-rank-pos")?.textContent).toBe("");
    p.render(data("sequence", [6, 3], { tokens: ["a", "b", "c", "d", "e", "Ġf"] }), null); // BPE
    expect(rows(p)[0]?.querySelector(".acts-rank-pos")?.textContent).toBe("“␣f” @5");
  });

  it("selects a unit on click and marks the selected one", () => {
    const picked: number[] = [];
    const p = new RankingPanel((u) => picked.push(u));
    p.render(data("vector", [3]), 0);
    expect(p.el.querySelector(".acts-rank-row.acts-selected")?.getAttribute("data-unit")).toBe("0");
    rows(p)[0]?.querySelector<HTMLElement>(".acts-rank-unit")?.click();
    expect(picked).toEqual([2]);
    p.setUnit(2);
    expect(p.el.querySelector(".acts-rank-row.acts-selected")?.getAttribute("data-unit")).toBe("2");
    p.render(null, null);
    expect(rows(p)).toEqual([]);
  });
});
