// htmx swaps only 2xx responses by default: let the server's message for a refused or failed request replace
// the target too (a 429 from "verify again" says how long to wait; a 502/503 says the chain or index is down).
// A static file, not an inline script (CSP).
(function () {
  "use strict";
  var SWAPPED = { 429: true, 502: true, 503: true };
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (!SWAPPED[xhr.status]) return;
    event.detail.shouldSwap = true;
    event.detail.isError = false;  // the body is the message to show, not a failure to log
    var retry = xhr.getResponseHeader("Retry-After");
    var target = event.detail.target;
    if (retry && target) target.dataset.retryAfter = retry;
  });
})();
