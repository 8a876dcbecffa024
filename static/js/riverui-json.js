// River's job dashboard sends its writes (cancel, delete, retry, pause)
// with a JSON string body but no Content-Type, which fetch then labels
// text/plain: what a cross-site HTML form can send too. The server refuses
// such writes (internal/web/jobs.go), so this shim, loaded before River's
// own script, labels the dashboard's same-origin writes as JSON.
(function () {
  "use strict";
  var original = window.fetch;
  window.fetch = function (input, init) {
    init = init || {};
    var method = (init.method || "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") {
      var headers = new Headers(init.headers);
      if (!headers.has("Content-Type")) {
        headers.set("Content-Type", "application/json");
      }
      init = Object.assign({}, init, { headers: headers });
    }
    return original.call(this, input, init);
  };
})();
