// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { LayerTree } from "../src/components/tree";
import type { LayerInfo } from "../src/traits";
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

  it("shows a lens's features under their layer, named after the slash, as features", () => {
    const feats = layerInfo("enc.block.mlp/sae", {
      depth: 3,
      parent: "enc.block.mlp",
      type: "SAE",
      features_of: "enc.block.mlp",
      kind: "sequence",
      shape: [7, 16384],
      n_units: 16384,
    });
    const tree = new LayerTree(() => {});
    tree.setLayers([...LAYERS.slice(0, 4), feats, LAYERS[4] as LayerInfo], "head");
    const row = tree.el.querySelector<HTMLElement>(".acts-row[data-name='enc.block.mlp/sae']") as HTMLElement;
    expect(row.classList.contains("acts-features")).toBe(true);
    expect(row.querySelector(".acts-name")?.textContent).toBe("sae");
    expect(row.querySelector(".acts-type")?.textContent).toBe("features · SAE");
    expect(row.title).toBe("enc.block.mlp/sae: 16384 features (SAE) of enc.block.mlp");
    const input = tree.el.querySelector("input") as HTMLInputElement;
    input.value = "features";
    input.dispatchEvent(new Event("input"));
    expect(names(tree)).toEqual(["enc", "enc.block", "enc.block.mlp", "enc.block.mlp/sae"]);
    // what they explain of their layer on the current input, once its view is known
    tree.setExplained(new Map([["enc.block.mlp/sae", 0.8731]]));
    const now = tree.el.querySelector<HTMLElement>(".acts-row[data-name='enc.block.mlp/sae']") as HTMLElement;
    expect(now.querySelector(".acts-type")?.textContent).toBe("features · SAE · 87%");
    expect(now.title).toContain("they explain 87.3% of its variance on this input");
    input.value = "";
    input.dispatchEvent(new Event("input")); // drawn again: still there
    expect(tree.el.querySelector(".acts-row[data-name='enc.block.mlp/sae'] .acts-type")?.textContent).toBe(
      "features · SAE · 87%",
    );
    tree.setExplained(new Map()); // another input, not known yet
    expect(tree.el.querySelector(".acts-row[data-name='enc.block.mlp/sae'] .acts-type")?.textContent).toBe(
      "features · SAE",
    );
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

  it("marks the selection, dims layers with no tensor, and folds deep containers of big models", () => {
    const tree = new LayerTree(() => {});
    tree.setLayers([...LAYERS, layerInfo("drop", { kind: "none", shape: null })], "head");
    const row = (name: string) => tree.el.querySelector<HTMLElement>(`.acts-row[data-name='${name}']`);
    expect(row("head")?.classList.contains("acts-selected")).toBe(true);
    expect(row("head")?.getAttribute("aria-selected")).toBe("true");
    expect(row("drop")?.classList.contains("acts-dim")).toBe(true);
    expect(row("enc.block.attn")?.querySelector(".acts-shape")?.textContent).toBe("3");
    tree.select("enc");
    expect(row("head")?.classList.contains("acts-selected")).toBe(false);
    expect(tree.order).toEqual(["enc", "enc.block", "enc.block.attn", "enc.block.mlp", "head", "drop"]);
    const deep = Array.from({ length: 70 }, (_, i) =>
      i === 0 ? L("root.a.b.c", 3, "", false) : L(`root.a.b.c.l${i}`, 4, "root.a.b.c", true),
    );
    tree.setLayers(deep, "root.a.b.c.l1");
    expect(names(tree).length).toBe(70); // the selection's container stays open
    tree.setLayers(deep, "");
    expect(names(tree)).toEqual(["root.a.b.c"]);
  });

  it("keeps keys typed into the filter from the notebook", () => {
    const tree = new LayerTree(() => {});
    document.body.append(tree.el);
    let reached = 0;
    document.body.addEventListener("keydown", () => reached++);
    tree.el.querySelector("input")?.dispatchEvent(new KeyboardEvent("keydown", { key: "j", bubbles: true }));
    expect(reached).toBe(0);
    tree.el.remove();
  });
});
