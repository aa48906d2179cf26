/* Live regions of the staff console: every element with data-live-url re-fetches a
   server-rendered HTML fragment about once a second and swaps it in when it changed.
   No framework: the server renders, this only polls. */
(function () {
  "use strict";
  var INTERVAL_MS = 1000;
  // A fresh CSRF token is masked differently on every render: ignore it when comparing.
  var CSRF = /name="csrfmiddlewaretoken" value="[^"]*"/g;

  var lastSeen = new WeakMap();  // the last fragment received per element, as the server sent it

  function comparable(html) { return html.replace(CSRF, ""); }

  function busy(element) {
    // Don't pull a form from under the user's pointer or keyboard.
    return element.contains(document.activeElement) && document.activeElement !== document.body;
  }

  function refresh(element) {
    if (document.hidden || busy(element)) { return schedule(element); }
    fetch(element.dataset.liveUrl, {credentials: "same-origin", cache: "no-store",
                                     headers: {"X-Requested-With": "live"}})
      .then(function (response) {
        if (!response.ok || response.redirected) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        element.removeAttribute("data-live-stale");
        if (comparable(html) !== lastSeen.get(element)) {
          lastSeen.set(element, comparable(html));
          element.innerHTML = html;
          element.dispatchEvent(new CustomEvent("live:updated", {bubbles: true}));
        }
      })
      .catch(function () { element.setAttribute("data-live-stale", ""); })  // shown by CSS; retried
      .finally(function () { schedule(element); });
  }

  function schedule(element) { window.setTimeout(function () { refresh(element); }, INTERVAL_MS); }

  document.querySelectorAll("[data-live-url]").forEach(schedule);
})();
