// Concurrency Workbench: a chart's legend hides and shows its series.
//
// Each series of a chart has a colour of its own, and every mark of it in the SVG (line,
// markers, error bars, the band and label of a gap) is drawn in that colour. A legend button
// carries the colour (data-color); pressing it hides or shows every SVG element of the figure
// whose stroke or fill is that colour. Without this script the legend is a plain key and the
// chart shows every series. base.html loads it once; the guard keeps it to one run anyway.
(function () {
  "use strict";
  if (window.wbChartsLegend) return;
  window.wbChartsLegend = true;

  function hex(value) {
    return (value || "").trim().toLowerCase();
  }

  function apply(figure) {
    var hidden = {};
    figure.querySelectorAll("ul.chart-legend button.series").forEach(function (b) {
      if (b.getAttribute("aria-pressed") === "false") hidden[hex(b.dataset.color)] = true;
    });
    figure.querySelectorAll("svg *").forEach(function (el) {
      var c = hex(el.getAttribute("stroke")) || "";
      var f = hex(el.getAttribute("fill")) || "";
      el.style.display = hidden[c] || hidden[f] ? "none" : "";
    });
  }

  function init() {
    document.querySelectorAll("figure.chart ul.chart-legend button.series").forEach(function (b) {
      b.title = "Hide or show this series";
      b.addEventListener("click", function () {
        var on = b.getAttribute("aria-pressed") !== "false";
        b.setAttribute("aria-pressed", on ? "false" : "true");
        apply(b.closest("figure.chart"));
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
