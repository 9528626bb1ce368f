// What the front end relies on in the generated contract (src/traits.ts): these fail when the
// contract changes under it, before any panel misbehaves.
import { describe, expect, it } from "vitest";
import {
  EXAMPLE_BANDS,
  headScoreValues,
  jobStateValues,
  kindValues,
  layerViewArrayValues,
  modalityValues,
  predictionTaskValues,
  rankByValues,
  saliencyLabels,
  saliencyMethodValues,
  saliencyOverValues,
  saliencyTargetTypeValues,
} from "../src/traits";

describe("the generated contract", () => {
  it("names every saliency method, each differently", () => {
    expect(Object.keys(saliencyLabels).sort()).toEqual([...saliencyMethodValues].sort());
    expect(new Set(Object.values(saliencyLabels)).size).toBe(saliencyMethodValues.length);
    expect(saliencyLabels.input_x_gradient).toBe("input × gradient");
  });

  it("declares the layer-view arrays the front end reads", () => {
    const wanted = ["act", "image", "sp_counts", "sp_gaps", "sp_vals", "overview", "column"];
    wanted.push("unit_max", "unit_mean", "unit_argmax", "unit_count");
    for (const by of rankByValues)
      for (const f of ["units", "max", "mean", "argmax", "count"]) wanted.push(`rank_${by}_${f}`);
    expect([...layerViewArrayValues].sort()).toEqual(wanted.sort());
  });

  it("declares the values the panels branch on", () => {
    expect(kindValues).toEqual(expect.arrayContaining(["spatial", "sequence", "vector", "other", "none"]));
    expect(modalityValues).toContain("image");
    expect(saliencyOverValues).toEqual(expect.arrayContaining(["pixels", "tokens", "values"]));
    expect(saliencyTargetTypeValues).toEqual(["top", "class", "unit", "token"]);
    expect(headScoreValues).toEqual(["previous_token", "induction", "first_token", "entropy"]);
    expect(predictionTaskValues).toEqual(["classes", "next_tokens"]);
    expect(jobStateValues).toEqual(expect.arrayContaining(["running", "cancelled"]));
    expect(rankByValues).toEqual(["max", "mean", "count"]);
    expect(EXAMPLE_BANDS).toBe(10);
  });
});
