// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { Header } from "../src/components/header";

const MODEL = { name: "<b>Net</b>", device: "cuda:0", dtype: "", n_params: 1234567, training: false };

describe("Header", () => {
  it("describes the model and shows a busy status as text", () => {
    const header = new Header(() => {});
    header.status({ state: "busy", message: "" }, MODEL);
    expect(header.el.querySelector(".acts-model")?.textContent).toBe(
      `<b>Net</b> · cuda:0 · ${(1234567).toLocaleString()} params`,
    );
    expect(header.el.querySelector("b")).toBeNull();
    const status = header.el.querySelector<HTMLElement>(".acts-status") as HTMLElement;
    expect([status.dataset.state, status.textContent]).toEqual(["busy", "working…"]);
    expect(header.banner.classList.contains("acts-shown")).toBe(false);
  });

  it("puts errors and notices in the banner, until dismissed", () => {
    const header = new Header(() => {});
    header.status({ state: "error", message: "boom", where: "saliency" }, undefined);
    expect(header.banner.classList.contains("acts-shown")).toBe(true);
    expect(header.banner.dataset.state).toBe("error");
    expect(header.banner.querySelector(".acts-banner-text")?.textContent).toBe("boom");
    header.banner.querySelector<HTMLElement>(".acts-dismiss")?.click();
    expect(header.banner.classList.contains("acts-shown")).toBe(false);
    header.status({ state: "ready", message: "Loaded 3 inputs; 2 were skipped." }, undefined);
    expect(header.banner.classList.contains("acts-shown")).toBe(true);
    header.status({ state: "ready", message: "" }, undefined);
    expect(header.banner.classList.contains("acts-shown")).toBe(false);
  });

  it("opens no banner for a change refused before the explorer was shown", () => {
    const refused = { state: "error", message: "No layer named 'x'", where: "input" } as const;
    const header = new Header(() => {});
    header.status(refused, undefined, true); // e.g. a Voilà app of a notebook with that cell
    expect(header.banner.classList.contains("acts-shown")).toBe(false);
    expect(header.el.querySelector(".acts-status")?.textContent).toBe("");
    header.status(refused, undefined); // refused while shown: the user is told
    expect(header.banner.classList.contains("acts-shown")).toBe(true);
    const broken = new Header(() => {});
    broken.status({ state: "error", message: "forward failed", where: "view" }, undefined, true);
    expect(broken.banner.classList.contains("acts-shown")).toBe(true); // about the state shown
  });

  it("shows a running job with progress and Cancel, then its end", () => {
    let cancelled = 0;
    const header = new Header(() => cancelled++);
    const job = header.el.querySelector<HTMLElement>(".acts-task") as HTMLElement;
    header.job({ name: "saliency", state: "running", progress: null, message: "step 2" });
    expect(job.textContent).toBe("saliency: step 2Cancel");
    expect(job.querySelector("progress")?.hasAttribute("value")).toBe(false); // indeterminate
    const button = job.querySelector("button");
    header.job({ name: "saliency", state: "running", progress: 0.5, message: "step 3" });
    expect(job.textContent).toBe("saliency: step 3Cancel");
    expect(job.querySelector("progress")?.value).toBe(0.5);
    expect(job.querySelector("button")).toBe(button); // the same button: no click is lost
    button?.click();
    expect(cancelled).toBe(1);
    header.job({ state: "cancelled" });
    expect(job.textContent).toBe("job cancelled");
    expect(job.dataset.state).toBe("cancelled");
    header.job({});
    expect(job.textContent).toBe("");
  });
});
