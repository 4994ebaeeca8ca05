// Live updates for the Signet consent dialog: follows the dialog's state
// over Server-Sent Events, and moves to the next question when the server
// hands one to this (finished) page.
(function () {
  "use strict";
  if (!window.EventSource) { return; }
  if (document.body.getAttribute("data-page") === "dashboard") {
    var des = new EventSource(location.pathname + "/events");
    des.addEventListener("changed", function () { des.close(); location.reload(); });
    return;
  }
  // A key choice: the Allow buttons wait until a key is picked (none is
  // preselected; the server also refuses an Allow without one).
  var keys = document.querySelectorAll('input[name="key"]');
  if (keys.length > 0) {
    var needKey = document.querySelectorAll("button[data-needs-key]");
    var update = function () {
      var picked = document.querySelector('input[name="key"]:checked') !== null;
      for (var j = 0; j < needKey.length; j++) { needKey[j].disabled = !picked; }
    };
    for (var k = 0; k < keys.length; k++) { keys[k].addEventListener("change", update); }
    update();
  }
  var messages = {
    answered: "Answered. You can close this window.",
    expired: "This request has expired. You can close this window.",
    cancelled: "This request was cancelled. You can close this window."
  };
  var es = new EventSource(location.pathname + "/events");
  es.addEventListener("state", function (e) {
    var state = e.data;
    document.body.setAttribute("data-state", state);
    if (state !== "pending") {
      // the server now counts this page as an open dialog for the next question
      document.body.setAttribute("data-live", "idle");
    }
    if (messages[state]) {
      var st = document.getElementById("status");
      if (st) { st.textContent = messages[state]; }
      var form = document.getElementById("answer");
      if (form) {
        var els = form.querySelectorAll("input, button");
        for (var i = 0; i < els.length; i++) { els[i].disabled = true; }
        var pin = document.getElementById("pin");
        if (pin) { pin.value = ""; }
      }
    }
  });
  es.addEventListener("next", function (e) {
    es.close();
    if (e.data.indexOf("/q/") === 0) { location.assign(e.data); }
  });
})();
