// Notebook pages show each explorer and figure as a standalone page in an iframe. The
// page inside says how tall it is (postMessage: iframes opened from disk cannot read each
// other), and the iframe takes that height, so that the explorer needs no scrollbar.
(() => {
  const frames = () => Array.from(document.querySelectorAll("iframe.actscope-frame"));
  window.addEventListener("message", (event) => {
    const data = event.data;
    if (!data || data.type !== "actscope-frame-height") return;
    for (const frame of frames()) {
      if (frame.contentWindow === event.source) {
        frame.style.height = `${Math.ceil(Number(data.height)) + 4}px`;
      }
    }
  });
  // A frame that loaded before this script listened: ask it again.
  const ping = () => {
    for (const frame of frames()) {
      frame.contentWindow?.postMessage({ type: "actscope-frame-ping" }, "*");
    }
  };
  for (const frame of frames()) frame.addEventListener("load", ping);
  ping();
})();
