// The console's only script: refreshes the overview's figures in place every
// data-refresh seconds (the page works without it; a reload does the same).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch || !window.DOMParser) return;
  var seconds = parseInt(live.getAttribute("data-refresh"), 10) || 10;
  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Refresh": "1" } })
      .then(function (reply) {
        if (!reply.ok || reply.redirected) throw new Error("stale");
        return reply.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) live.replaceWith(fresh), (live = fresh);
        window.setTimeout(refresh, seconds * 1000);
      })
      .catch(function () {
        window.setTimeout(refresh, seconds * 4000);
      });
  }
  window.setTimeout(refresh, seconds * 1000);
})();
