// Live progress of regression runs in the admin: polls the JSON progress view of every
// element marked data-run-progress until its run has finished. No external script.
(function () {
  "use strict";
  var INTERVAL_MS = 1000;

  function render(el, data) {
    var bar = el.querySelector("progress");
    var text = el.querySelector(".run-progress-text");
    if (bar) {
      bar.max = Math.max(data.total, 1);
      bar.value = data.done;
    }
    if (text) {
      // Until pytest has collected, the total is unknown: "collecting", never a guess that grows.
      text.textContent = data.done + "/" + (data.collecting ? "collecting" : data.total) + " " + data.status +
        " — " + data.passed + " passed, " + data.failed + " failed, " + data.errors + " errors";
    }
  }

  function poll(el) {
    var url = el.getAttribute("data-run-progress");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        render(el, data);
        if (!data.finished) {
          window.setTimeout(function () { poll(el); }, INTERVAL_MS);
        } else if (document.body.classList.contains("change-form")) {
          // The results inline is rendered by the server: show it once the run is over.
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(function () { poll(el); }, INTERVAL_MS * 5); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var elements = document.querySelectorAll("[data-run-progress]");
    for (var i = 0; i < elements.length; i++) {
      var text = elements[i].textContent || "";
      if (/queued|running/.test(text)) { poll(elements[i]); }
    }
  });
})();
