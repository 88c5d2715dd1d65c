// Keeps the page live: follows the application's event stream and re-renders the page's
// content (rendered on the server) at most once a second. Without this script the page is
// the same, only static.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-events");
  var badge = document.getElementById("live");
  if (!url || !window.EventSource || !window.fetch) return;
  var pending = false;
  var last = 0;
  function refresh() {
    pending = false;
    last = Date.now();
    fetch(location.href, { headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("content");
        if (next) document.getElementById("content").innerHTML = next.innerHTML;
        document.body.setAttribute("data-refreshed", String(last));
      })
      .catch(function () { /* the next event tries again */ });
  }
  function schedule() {
    if (pending) return;
    pending = true;
    setTimeout(refresh, Math.max(0, 1000 - (Date.now() - last)));
  }
  var events = new EventSource(url);
  events.onopen = function () { badge.textContent = "live"; badge.className = "live on"; };
  events.onerror = function () { badge.textContent = "reconnecting"; badge.className = "live off"; };
  ["batch", "receiver", "error", "gap"].forEach(function (kind) {
    events.addEventListener(kind, schedule);
  });
})();
