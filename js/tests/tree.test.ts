// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import type { LayerInfo } from "../src/model";
import { LayerTree } from "../src/views/tree";
import { layerInfo } from "./helpers/layers";

const L = (name: string, depth: number, parent: string, is_leaf: boolean, type = "Linear"): LayerInfo =>
  layerInfo(name, { depth, parent, is_leaf, type });

const LAYERS = [
  L("enc", 0, "", false, "Encoder"),
  L("enc.block", 1, "enc", false, "Block"),
  L("enc.block.attn", 2, "enc.block", true, "Attention"),
  L("enc.block.mlp", 2, "enc.block", true),
  L("head", 0, "", true),
];

const names = (tree: LayerTree): string[] =>
  Array.from(tree.el.querySelectorAll<HTMLElement>(".acts-row")).map((r) => r.dataset.name ?? "");

describe("LayerTree", () => {
  it("filters by name or type and keeps the ancestors of matches", () => {
    const tree = new LayerTree(() => {});
    tree.setLayers(LAYERS, "head");
    const input = tree.el.querySelector("input") as HTMLInputElement;
    input.value = "attention";
    input.dispatchEvent(new Event("input"));
    expect(names(tree)).toEqual(["enc", "enc.block", "enc.block.attn"]);
    input.value = "zzz";
    input.dispatchEvent(new Event("input"));
    expect(tree.el.textContent).toContain("No layer matches");
  });

  it("collapses and expands containers, and walks the visible rows", () => {
    let picked = "";
    const tree = new LayerTree((n) => {
      picked = n;
    });
    tree.setLayers(LAYERS, "enc.block.mlp");
    expect(tree.neighbour(1)).toBe("head");
    expect(tree.neighbour(-1)).toBe("enc.block.attn");
    tree.el.querySelector<HTMLElement>(".acts-row[data-name='enc.block'] .acts-caret")?.click();
    expect(names(tree)).toEqual(["enc", "enc.block", "head"]);
    tree.el.querySelector<HTMLElement>(".acts-row[data-name='head']")?.click();
    expect(picked).toBe("head");
    tree.select("enc.block.attn"); // selecting inside a folded container unfolds it
    expect(names(tree)).toContain("enc.block.attn");
  });
});
