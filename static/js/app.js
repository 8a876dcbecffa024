// Provisioner front-end helpers. Dependency-free and CSP-safe: no eval, no
// inline handlers; everything is event delegation on document, so it also
// works for content that htmx swaps in later.
(function () {
  "use strict";

  // (a) Copy to clipboard: <button data-copy="value">. The button's text
  // changes to "Copied" for a moment so the user (and screen readers, via
  // the button's accessible name) get feedback.
  function fallbackCopy(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "sr-only";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    document.body.removeChild(ta);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return fallbackCopy(text);
      });
    }
    return fallbackCopy(text);
  }

  document.addEventListener("click", function (evt) {
    var btn = evt.target instanceof Element ? evt.target.closest("button[data-copy]") : null;
    if (!btn) return;
    evt.preventDefault();
    var original = btn.getAttribute("data-copy-label");
    if (original === null) {
      original = btn.textContent;
      btn.setAttribute("data-copy-label", original);
    }
    copy(btn.getAttribute("data-copy") || "").then(
      function () { btn.textContent = "Copied"; },
      function () { btn.textContent = "Copy failed"; }
    ).then(function () {
      window.clearTimeout(btn._copyTimer);
      btn._copyTimer = window.setTimeout(function () {
        btn.textContent = original;
      }, 1500);
    });
  });

  // (b) Confirmation: <form data-confirm="Really?">. A capture-phase submit
  // listener runs before htmx's own listener on the form; cancelling stops
  // the event there, so neither a normal nor an htmx submit happens.
  // Events already confirmed are remembered so htmx:confirm (fired for the
  // same submit) does not ask twice; htmx:confirm still covers forms that
  // htmx triggers some other way.
  var confirmed = typeof WeakSet === "function" ? new WeakSet() : null;

  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
    if (!window.confirm(form.getAttribute("data-confirm"))) {
      evt.preventDefault();
      evt.stopImmediatePropagation();
      return;
    }
    if (confirmed) confirmed.add(evt);
  }, true);

  document.addEventListener("htmx:confirm", function (evt) {
    var elt = evt.detail && evt.detail.elt;
    var form = elt instanceof Element ? elt.closest("form[data-confirm]") : null;
    if (!form) return;
    var trigger = evt.detail.triggeringEvent;
    if (trigger && trigger.type === "submit" && (!confirmed || confirmed.has(trigger))) return;
    if (!window.confirm(form.getAttribute("data-confirm"))) evt.preventDefault();
  });

  // Error toasts: the htmx config swaps 4xx answers (refused forms, toasts)
  // but not 5xx. When the server explicitly retargets an error answer (for
  // example HX-Retarget: #toasts with pages.ErrorToast), swap it anyway and
  // take it as handled, so the user sees what went wrong and htmx logs no
  // console error for an answer the page expected.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var d = evt.detail;
    if (!d || !d.xhr) return;
    if (d.xhr.getResponseHeader("HX-Retarget")) {
      d.shouldSwap = true;
      d.isError = false;
    }
  });
})();
