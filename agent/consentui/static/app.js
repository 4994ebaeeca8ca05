// Live updates for the Signet consent dialog: follows the dialog's state
// over Server-Sent Events until it is finished, and keeps the action
// buttons disabled for a moment whenever the page appears or regains focus,
// so that a click meant for something else cannot answer it.
(function () {
  "use strict";
  if (document.body.getAttribute("data-page") === "dashboard") {
    if (!window.EventSource) { return; }
    var des = new EventSource(location.pathname + "/events?v=" + encodeURIComponent(document.body.getAttribute("data-version") || ""));
    des.addEventListener("changed", function () { des.close(); location.reload(); });
    // An action's own answer (a redirect with its notice) comes next: a
    // reload for the change it causes must not replace it.
    document.addEventListener("submit", function () { des.close(); });
    return;
  }
  // The single-use link key has done its job: keep it out of the address
  // bar and the history (a reload goes to /q/ID, with the session cookie).
  if (location.search && window.history && history.replaceState) {
    history.replaceState(null, "", location.pathname);
  }
  var ARM_DELAY_MS = 1000;
  var form = document.getElementById("answer");
  var buttons = form ? form.querySelectorAll("button") : [];
  var armed = false;
  var finished = false;
  var timer = null;
  // refresh sets every button's disabled state: none before the page is
  // armed or after the dialog finished; the Allow buttons of a key choice
  // only once a key is picked (none is preselected; the server also
  // refuses an Allow without one).
  var refresh = function () {
    var picked = document.querySelector('input[name="key"]:checked') !== null;
    for (var i = 0; i < buttons.length; i++) {
      var b = buttons[i];
      b.disabled = !armed || finished || (b.hasAttribute("data-needs-key") && !picked);
    }
  };
  var arm = function () {
    timer = null;
    armed = true;
    document.body.setAttribute("data-armed", "yes");
    refresh();
  };
  // disarm disables the buttons and, while the page is visible, arms them
  // again after ARM_DELAY_MS.
  var disarm = function () {
    armed = false;
    document.body.setAttribute("data-armed", "no");
    refresh();
    if (timer !== null) { clearTimeout(timer); timer = null; }
    if (document.visibilityState !== "hidden") { timer = setTimeout(arm, ARM_DELAY_MS); }
  };
  var keys = document.querySelectorAll('input[name="key"]');
  for (var k = 0; k < keys.length; k++) { keys[k].addEventListener("change", refresh); }
  document.addEventListener("visibilitychange", disarm);
  window.addEventListener("focus", disarm);
  disarm();

  if (!window.EventSource) { return; }
  // The final states' messages, in the page's language (data-msg-*).
  var messages = {
    answered: document.body.getAttribute("data-msg-answered"),
    expired: document.body.getAttribute("data-msg-expired"),
    cancelled: document.body.getAttribute("data-msg-cancelled")
  };
  var es = new EventSource(location.pathname + "/events");
  es.addEventListener("state", function (e) {
    var state = e.data;
    document.body.setAttribute("data-state", state);
    if (state === "pending") { return; }
    // The final state: the stream ends here (never a next question).
    es.close();
    finished = true;
    refresh();
    if (messages[state]) {
      var st = document.getElementById("status");
      if (st) { st.textContent = messages[state]; }
      if (form) {
        var els = form.querySelectorAll("input, button");
        for (var i = 0; i < els.length; i++) { els[i].disabled = true; }
        var pin = document.getElementById("pin");
        if (pin) { pin.value = ""; }
      }
    }
  });
})();
