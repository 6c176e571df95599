// Live parts of a page (实时刷新), no build step and no library: an element with data-live="URL"
// gets its inner HTML replaced every few seconds by what the URL returns (a fragment route that
// returns just that part). With data-live-form="ID" the fields of that form are posted instead
// (the applicant's page: its ticket stays out of the address). Without JavaScript the page's own
// refresh link still works; a failed fetch keeps what is shown and tries again later.
(function () {
  "use strict";
  var EVERY = 5000;

  function refresh(el) {
    var options = { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } };
    var formId = el.getAttribute("data-live-form");
    if (formId) {
      var form = document.getElementById(formId);
      if (!form) return;
      options.method = "POST";
      options.body = new URLSearchParams(new FormData(form));
    }
    fetch(el.getAttribute("data-live"), options)
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null && html !== el.innerHTML) el.innerHTML = html; })
      .catch(function () {});
  }

  function start() {
    var live = document.querySelectorAll("[data-live]");
    if (!live.length) return;
    setInterval(function () {
      if (document.hidden) return;
      live.forEach(refresh);
    }, EVERY);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
