// Reloads a page that says it is waiting for something (data-reload-after="SECONDS" on an
// element): no <meta http-equiv="refresh">, which moves a page under its reader's eyes.
(function () {
  "use strict";
  var waiting = document.querySelector("[data-reload-after]");
  if (!waiting) { return; }
  var seconds = parseFloat(waiting.getAttribute("data-reload-after")) || 5;
  window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
})();
