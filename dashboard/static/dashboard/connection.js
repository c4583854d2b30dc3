// The connection indicator: the server renders "live · HH:MM:SS" over the websocket; a closed
// socket says so here (a static file, so the page's Content-Security-Policy needs no inline script).
(function () {
  function mark(state, text) {
    var live = document.getElementById("live");
    if (live) { live.className = state; live.textContent = text; }
  }
  document.body.addEventListener("htmx:wsClose", function () { mark("offline", "disconnected"); });
  document.body.addEventListener("htmx:wsError", function () { mark("offline", "disconnected"); });
})();
