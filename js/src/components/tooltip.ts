// One hover tooltip per widget, positioned inside the widget root. Text only.
import { h } from "../dom";
import "./tooltip.css";

export class Tooltip {
  readonly el = h("div", { class: "acts-tooltip", role: "tooltip" });

  constructor(private root: HTMLElement) {
    root.append(this.el);
    this.hide();
  }

  show(event: MouseEvent, lines: string[]): void {
    this.el.textContent = lines.join("\n");
    this.el.style.display = "block";
    const box = this.root.getBoundingClientRect();
    const x = event.clientX - box.left + 14;
    const y = event.clientY - box.top + 14;
    const maxX = this.root.clientWidth - this.el.offsetWidth - 4;
    this.el.style.left = `${Math.max(0, Math.min(x, maxX))}px`;
    this.el.style.top = `${y}px`;
  }

  hide(): void {
    this.el.style.display = "none";
  }
}
