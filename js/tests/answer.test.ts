// @vitest-environment happy-dom
// What a click asked for paints first: after an edit, the explorer holds its redraws of the
// layer view and the other panels until the edited outputs are drawn (then they follow the
// frame that paints them), or until a short limit passes without them.
import { afterEach, describe, expect, it, vi } from "vitest";
import { AnswerFirst } from "../src/answer";
import { ExplorerView } from "../src/explorer";
import { editsTag } from "../src/panels/edits";
import { type EditSpec, outputsKey } from "../src/traits";
import { encodeBlob, viewBlob } from "./helpers/encode";
import { KernelModel, traits } from "./helpers/model";

afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
});

const ABLATE: EditSpec = { layer: "a", units: [2], positions: null, op: "scale", amount: 0 };

/** A held `AnswerFirst` (limit 150 ms, fake timers) and the log of what it ran. */
function held(): { answer: AnswerFirst; calls: string[]; log: (what: string) => () => void } {
  vi.useFakeTimers();
  const calls: string[] = [];
  const answer = new AnswerFirst(150);
  answer.hold();
  return { answer, calls, log: (what) => () => calls.push(what) };
}

describe("AnswerFirst", () => {
  it("runs at once when nothing is held", () => {
    const calls: string[] = [];
    new AnswerFirst().run("view", () => calls.push("view"));
    expect(calls).toEqual(["view"]);
  });

  it("holds until the answer's frame is painted, running the last of each key in order", () => {
    const { answer, calls, log } = held();
    answer.run("view", log("view 1"));
    answer.run("panels", log("panels"));
    answer.run("view", log("view 2"));
    vi.advanceTimersByTime(10);
    expect(calls).toEqual([]);
    answer.answered();
    expect(calls).toEqual([]); // not in the frame that paints the answer
    vi.advanceTimersByTime(40);
    expect(calls).toEqual(["panels", "view 2"]);
    answer.run("view", log("view 3")); // the hold is over
    expect(calls).toEqual(["panels", "view 2", "view 3"]);
  });

  it("gives up waiting after its limit", () => {
    const { answer, calls, log } = held();
    answer.run("view", log("view"));
    vi.advanceTimersByTime(149);
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual(["view"]);
  });

  it("runs nothing held once disposed", () => {
    const { answer, calls, log } = held();
    answer.run("view", log("view"));
    answer.dispose();
    vi.advanceTimersByTime(500);
    expect(calls).toEqual([]);
  });
});

function editedOutputs(tag: string): DataView {
  return encodeBlob(
    { key: outputsKey(0), input_index: 0, task: "classes", label: "", names: { 1: "one" }, edits: tag },
    {
      ids: { data: [1], shape: [1], dtype: "i32" },
      probs: { data: [0.9], shape: [1] },
      clean_probs: { data: [0.4], shape: [1] },
    },
  );
}

describe("an edit in the explorer", () => {
  function live() {
    vi.useFakeTimers();
    const model = new KernelModel(traits({ edits: [], edit_view: "edited", position: null }));
    const el = document.createElement("div");
    document.body.append(el);
    const view = new ExplorerView(model, el);
    model.reply({ type: "hello" });
    model.set("layer_view", viewBlob("a", 0, "vector", [3], [1, 2, 3]));
    return { model, root: view.root, el };
  }

  it("draws the edited outputs first, then the views downstream after that frame", async () => {
    const { model, root, el } = live();
    expect(root.dataset.drawn).toBe("0|a");
    model.set("edits", [ABLATE]);
    await Promise.resolve();
    expect(root.dataset.edited).toBe("0"); // the clean view is still up, and not marked edited
    expect(root.classList.contains("acts-loading")).toBe(false);
    model.set("outputs_view", editedOutputs(editsTag([ABLATE])));
    expect(el.querySelector(".acts-outputs .acts-edits-badge")?.textContent).toBe("edited");
    expect(root.dataset.edited).toBe("0");
    vi.advanceTimersByTime(40);
    expect(root.dataset.edited).toBe("1"); // and the layer view waits for the edited run
    expect(root.classList.contains("acts-loading")).toBe(true);
    const tag = editsTag([ABLATE]);
    model.set("layer_view", viewBlob("a", 0, "vector", [3], [1, 2, 0], { edits: tag }));
    vi.advanceTimersByTime(1);
    expect(root.classList.contains("acts-loading")).toBe(false);
  });

  it("shows the edited state after the limit when no outputs come", async () => {
    const { model, root } = live();
    model.set("edits", [ABLATE]);
    await Promise.resolve();
    vi.advanceTimersByTime(149);
    expect(root.dataset.edited).toBe("0");
    vi.advanceTimersByTime(1);
    expect(root.dataset.edited).toBe("1");
  });

  it("without a kernel, shows the edited state at once", async () => {
    const model = new KernelModel(traits({ edits: [], edit_view: "edited", position: null }));
    const view = new ExplorerView(model, document.body.appendChild(document.createElement("div")));
    model.set("edits", [ABLATE]); // no hello: nothing will answer, so nothing is held
    await Promise.resolve();
    expect(view.root.dataset.edited).toBe("1");
  });
});
