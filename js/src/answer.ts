/**
 * What a click asked for paints first. After an edit, the kernel sends the outputs panel's
 * answer (the edited prediction) and then the heavier views (the layer view's grid, the
 * other panels); drawn as they come, the grid's canvases would take the frame the answer
 * was to be painted in. While `hold()` is on, `run(key, fn)` keeps `fn` (the last per key)
 * until `answered()` — then it runs right after the frame that paints the answer — or until
 * `limitMs` passed without one (a slow model's outputs come after the layer view).
 */
export class AnswerFirst {
  private held: Map<string, () => void> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly limitMs = 150) {}

  /** Hold redraws until the answer is painted (at most `limitMs`). */
  hold(): void {
    this.held ??= new Map();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.release(), this.limitMs);
  }

  /** Run `fn` now, or when the hold ends (only the last `fn` of each `key`). */
  run(key: string, fn: () => void): void {
    if (this.held) {
      this.held.delete(key); // in the order last asked
      this.held.set(key, fn);
    } else fn();
  }

  /** The answer is drawn: what was held runs once the frame that shows it is painted. */
  answered(): void {
    if (this.held) requestAnimationFrame(() => setTimeout(() => this.release(), 0));
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.held = null;
  }

  private release(): void {
    clearTimeout(this.timer);
    const held = this.held;
    this.held = null;
    for (const fn of held?.values() ?? []) fn();
  }
}
