// For benchmarks/explorer.py: a button that asks Python for the plotly heatmap's next z,
// so that the plotly baseline is timed from a click in the page, as actscope's views are.
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "plotly-request";
  button.textContent = "plotly";
  button.addEventListener("click", () => {
    model.set("request", model.get("request") + 1);
    model.save_changes();
  });
  el.append(button);
}

export default { render };
