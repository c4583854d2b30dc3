// The connection indicator, driven by the htmx ws extension's events (a static file, so the page's
// Content-Security-Policy needs no inline script):
//   live          green, with the time of the last message (the server sends one at least every 10 s)
//   reconnecting  amber, with the attempt count
//   offline       red, after OFFLINE_AFTER failed attempts, when the browser has no network, or when
//                 the server refused the socket (signed out)
// Every (re)connection gets a fresh snapshot of every panel from the server: that is the catch-up.
(function () {
  var OFFLINE_AFTER = 2;        // failed reconnection attempts before "offline"
  var STALLED_MS = 35000;       // no message for this long on an open socket: reconnect
  var RETRIED = [1006, 1011, 1012, 1013];  // close codes the extension retries itself
  var FORBIDDEN = 4403;         // dashboard/consumers.py: not (or no longer) signed in as staff
  var failures = 0, down = null, last = Date.now(), socket = null, open = null, stale = null, signedOut = false;

  // Quick retries (0.5, 1, 2, 4 s, then every 5 s, +-25 %): offline shows within seconds and a
  // returning server is found within about 6 s.
  htmx.config.wsReconnectDelay = function (retry) {
    return Math.min(500 * Math.pow(2, retry), 5000) * (0.75 + Math.random() / 2);
  };

  function clock(date) {
    var live = document.getElementById("live");
    var zone = (live && live.dataset.tz) || undefined;
    return date.toLocaleTimeString("en-GB", {timeZone: zone, hour12: false});
  }
  function mark(state, text) {
    var live = document.getElementById("live");
    if (live) { live.className = state; live.dataset.state = state; live.textContent = text; }
  }
  function lost() {
    if (signedOut) { mark("offline", "offline · signed out: reload the page"); }
    else if (!navigator.onLine) { mark("offline", "offline · no network"); }
    else if (failures > OFFLINE_AFTER) { mark("offline", "offline since " + clock(down) + " · retrying (attempt " + failures + ")"); }
    else { mark("reconnecting", "reconnecting · attempt " + failures); }
  }

  document.body.addEventListener("htmx:wsOpen", function (e) {
    failures = 0; down = null; last = Date.now(); socket = e.detail.socketWrapper; open = e.detail.event.target;
  });
  document.body.addEventListener("htmx:wsAfterMessage", function () {
    last = Date.now();
    mark("live", "live · " + clock(new Date()));
  });
  document.body.addEventListener("htmx:wsClose", function (e) {
    var code = e.detail.event.code;
    if (e.detail.event.target === stale) { return; }  // the stalled socket we replaced
    signedOut = code === FORBIDDEN;
    down = down || new Date();
    failures += 1;
    if (!signedOut && RETRIED.indexOf(code) < 0) {  // e.g. 1001 from a server shutting down
      setTimeout(e.detail.socketWrapper.reconnect, htmx.config.wsReconnectDelay(failures - 1));
    }
    lost();
  });
  window.addEventListener("offline", lost);
  window.addEventListener("online", function () { if (down) { lost(); } else { mark("live", "live · " + clock(new Date(last))); } });
  setInterval(function () {  // a socket open but silent past three heartbeats is stalled
    if (!down && socket && Date.now() - last > STALLED_MS) {
      last = Date.now(); stale = open; mark("reconnecting", "reconnecting · no message since " + clock(new Date(last - STALLED_MS)));
      socket.reconnect();
    }
  }, 5000);
})();
