// In-memory models for tests: the standalone model (no kernel), and one with a kernel on the
// other end that records what the front end sends and replies on demand.
import { StaticModel } from "../../src/standalone";
import type { Request } from "../../src/traits";
import { layerInfo } from "./layers";

export class KernelModel extends StaticModel {
  sent: Request[] = [];
  saved = 0;
  // biome-ignore lint/suspicious/noExplicitAny: handlers of the AnyModel interface are untyped
  private custom: ((...args: any[]) => void)[] = [];

  // biome-ignore lint/suspicious/noExplicitAny: as above
  override on(event: string, fn: (...args: any[]) => void): void {
    if (event === "msg:custom") this.custom.push(fn);
    super.on(event, fn);
  }

  override send(msg?: unknown): void {
    this.sent.push(msg as Request);
  }

  override save_changes(): void {
    this.saved++;
  }

  reply(msg: Record<string, unknown>, buffers: DataView[] = []): void {
    for (const fn of this.custom) fn(msg, buffers);
  }

  /** The fetch requests sent, as layer-view keys. */
  fetches(): string[] {
    return this.sent.flatMap((m) => (m.type === "fetch" ? [`${m.input_index}|${m.layer}`] : []));
  }
}

/** The traits of a small explorer: a sequence layer, a vector layer, a layer with no tensor. */
export function traits(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    layer: "a",
    input_index: 0,
    unit: null,
    model_info: { name: "Toy", device: "cpu", dtype: "float32", n_params: 10, training: false },
    layers_info: [
      layerInfo("a", { kind: "sequence", shape: [4, 3] }),
      layerInfo("b", { kind: "vector", shape: [5] }),
      layerInfo("c", { kind: "none", shape: null }),
    ],
    inputs_info: [
      { modality: "text", label: "#0", text: "hello" },
      { modality: "text", label: "#1", text: "world" },
    ],
    thumbs: null,
    layer_view: null,
    status: { state: "ready", message: "" },
    job: {},
    prefetch: true,
    store_bytes: 96 * 2 ** 20,
    snapshot_data: null,
    saliency_method: "",
    saliency_target: { type: "top" },
    saliency_view: null,
    examples_view: null,
    examples_band: -1,
    mining: { has_dataset: false, layers: [] },
    ...extra,
  };
}
