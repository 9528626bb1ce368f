import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    environment: "node",
    // Threads, and one environment per worker rather than per file: the suite takes a third
    // of the time (the files that mount elements empty document.body after their tests).
    pool: "threads",
    isolate: false,
  },
});
