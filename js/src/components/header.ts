// The explorer's header: the model, the background job (progress and Cancel), the status and
// the keyboard help; and the banner under it for errors and notices. Text only.
import { clear, h } from "../dom";
import type { Job, ModelInfo, Status } from "../traits";
import "./header.css";

const HELP = "↑/↓ layers · ←/→ inputs · Esc clears the unit · click a unit to select it";

/** Errors about a change that was refused (the explorer kept its state), not the state. */
const REFUSED: readonly string[] = ["input", "action"];

export class Header {
  readonly el = h("div", { class: "acts-header" });
  readonly banner = h("div", { class: "acts-banner", role: "alert" });
  private modelEl = h("span", { class: "acts-model" });
  private jobEl = h("span", { class: "acts-task" });
  private statusEl = h("span", { class: "acts-status", role: "status" });
  private bannerText = h("span", { class: "acts-banner-text" });

  /** `onCancel`: the Cancel button of a running job was clicked. */
  constructor(private onCancel: () => void) {
    const dismiss = h("button", {
      class: "acts-btn acts-dismiss",
      type: "button",
      title: "Dismiss",
      text: "×",
    });
    dismiss.addEventListener("click", () => this.banner.classList.remove("acts-shown"));
    this.banner.append(this.bannerText, dismiss);
    this.el.append(
      h("span", { class: "acts-brand", text: "actscope" }),
      this.modelEl,
      this.jobEl,
      this.statusEl,
      h("span", { class: "acts-help", text: "?", title: HELP }),
    );
  }

  /**
   * The status (busy, or an error in the banner) and the model's description. `initial`:
   * the status as the explorer was shown (a saved notebook, a Voilà app, a page): a refused
   * change from before then is not about the state shown, so it opens no banner.
   */
  status(s: Status, model: ModelInfo | undefined, initial = false): void {
    if (model?.name) {
      const dtype = model.dtype ? ` · ${model.dtype}` : "";
      this.modelEl.textContent = `${model.name} · ${model.device}${dtype} · ${model.n_params.toLocaleString()} params`;
    }
    this.statusEl.dataset.state = s.state;
    this.statusEl.textContent =
      s.state === "error" ? "error" : s.state === "busy" ? s.message || "working…" : "";
    this.statusEl.title = s.message;
    const stale = initial && s.state === "error" && REFUSED.includes(s.where ?? "");
    if (stale) this.statusEl.textContent = "";
    this.bannerText.textContent = s.message;
    this.banner.classList.toggle(
      "acts-shown",
      !stale && (s.state === "error" || (s.state === "ready" && !!s.message)),
    );
    this.banner.dataset.state = s.state;
  }

  /**
   * The background job: its progress and a Cancel button while it runs. Progress updates
   * change the text and the bar in place: the Cancel button stays the same element, so a
   * click on it is never lost to a redraw.
   */
  job(job: Job): void {
    this.jobEl.dataset.state = job.state ?? "";
    if (job.state === "running") {
      if (!this.running) {
        clear(this.jobEl);
        const cancel = h("button", { class: "acts-btn", type: "button", text: "Cancel" });
        cancel.addEventListener("click", () => this.onCancel());
        this.running = {
          text: h("span"),
          bar: h("progress", { class: "acts-progress", max: 1 }),
        };
        this.jobEl.append(this.running.text, this.running.bar, cancel);
      }
      this.running.text.textContent = `${job.name ?? "working"}: ${job.message ?? ""}`;
      if (job.progress != null) this.running.bar.value = job.progress;
      else this.running.bar.removeAttribute("value"); // indeterminate
      return;
    }
    this.running = null;
    clear(this.jobEl);
    if (job.state === "cancelled") {
      this.jobEl.append(h("span", { class: "acts-hint", text: `${job.name ?? "job"} cancelled` }));
    }
  }

  private running: { text: HTMLElement; bar: HTMLProgressElement } | null = null;
}
