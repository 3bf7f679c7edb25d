// The live SLA countdown of a bug's page: every element marked data-sla-due shows the time left
// (or overdue) and updates each second. No external script.
(function () {
  "use strict";

  function format(ms) {
    var total = Math.floor(Math.abs(ms) / 1000);
    var days = Math.floor(total / 86400);
    var hours = Math.floor((total % 86400) / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var seconds = total % 60;
    var text = (days ? days + " d " : "") + hours + " h " + minutes + " min " + seconds + " s";
    return ms >= 0 ? text + " left" : "breached " + text + " ago";
  }

  function tick() {
    document.querySelectorAll("[data-sla-due]").forEach(function (el) {
      var left = new Date(el.getAttribute("data-sla-due")).getTime() - Date.now();
      el.textContent = format(left);
      el.classList.toggle("sla-breached", left < 0);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
  });
})();
