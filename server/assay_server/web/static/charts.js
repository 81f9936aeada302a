// Draws every chart of a page: each <div class="plot" data-figure="ID"> takes the figure in
// the JSON script element ID (written by the "chart" macro of _charts.html). No inline
// script: the pages' Content-Security-Policy allows scripts from this site only.
(function () {
  "use strict";
  function draw() {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll("div.plot[data-figure]").forEach(function (div) {
      var source = document.getElementById(div.getAttribute("data-figure"));
      if (!source) { return; }
      var figure = JSON.parse(source.textContent);
      var config = { displaylogo: false, responsive: true };
      if (div.classList.contains("sparkline")) { config.staticPlot = true; }
      Plotly.newPlot(div, figure.data, figure.layout, config);
      div.setAttribute("data-drawn", "true");
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
