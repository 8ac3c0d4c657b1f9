// The acceptance queue from the keyboard: j/k move, Enter/o open, a accept, r reject,
// c claim, Esc close the panel. Loaded by the queue page and the lead page's handoff section.
(function () {
  "use strict";
  if (window.leadhubQueue) return; // the lead page section may be re-rendered with its script tag
  window.leadhubQueue = true;

  // Refusals (bad input 400, not allowed 403, conflict 409) carry a sentence and a fresh
  // row or form: swap them in like successes instead of dropping them.
  const inPlace = (xhr) => [400, 403, 409].includes(xhr.status) &&
    !!(xhr.getResponseHeader("HX-Reswap") || xhr.getResponseHeader("HX-Retarget"));
  // With DEBUG on, django-htmx's script (listening on the document) replaces the whole page
  // with any 400/403 answer, to show Django's debug page. The refusals the server marks for
  // the page itself (HX-Reswap/HX-Retarget) stop here, one step before the document, and htmx
  // goes on to swap them where they belong; anything else still reaches the debug handler.
  document.documentElement.addEventListener("htmx:beforeOnLoad", (event) => {
    if (event.detail.xhr && inPlace(event.detail.xhr)) event.stopPropagation();
  });
  if (window.htmx) {
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "(400|403|409)", swap: true, error: false },
      { code: "[45]..", swap: false, error: true },
      { code: "...", swap: false },
    ];
  }

  // A database still busy after the server's retries answers 503 with Retry-After and a page
  // whose sentence says nothing was saved. htmx swaps nothing for it (above): the sentence goes
  // where the action was taken (the row, the panel, the lead page's section) and in the status
  // line, and the page stays as it was, ready for another try.
  const BUSY = "The database is busy; try again in a moment.";

  function busySentence(xhr) {
    try {
      const page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
      const alert = page.querySelector("[role=alert]");
      const text = alert && alert.textContent.trim();
      if (text) return text;
    } catch (error) { /* not a page: the fixed sentence */ }
    return BUSY;
  }

  function showBusy(container, before, className, text) {
    if (!container) return;
    container.querySelectorAll(".busy-alert").forEach((old) => old.remove());
    const note = document.createElement("div");
    note.className = className + " busy-alert";
    note.setAttribute("role", "alert");
    note.textContent = text;
    container.insertBefore(note, before || null);
  }

  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    if (!xhr || xhr.status !== 503) return;
    deciding = null;
    const text = busySentence(xhr);
    const elt = event.detail.elt instanceof Element ? event.detail.elt : document.body;
    const status = document.getElementById("queue-status");
    if (status) {
      status.textContent = text;
      status.classList.remove("is-ok");
      status.classList.add("is-error");
    }
    const panel = elt.closest("#panel");
    let row = elt.closest("#queue-rows tr[data-handoff]");
    if (!row && panel && panel.dataset.handoff) row = document.getElementById("handoff-" + panel.dataset.handoff);
    if (row) {
      const cell = row.querySelector(".lead-cell") || row.querySelector("td");
      if (cell) cell.querySelectorAll(".row-notice").forEach((old) => old.remove());
      showBusy(cell, null, "row-notice is-conflict", text);
    }
    if (panel) {
      const head = panel.querySelector(".panel-head");
      showBusy(panel, head ? head.nextSibling : panel.firstChild, "row-notice is-conflict", text);
    }
    const section = elt.closest("#lead-handoff");
    if (section) {
      const head = section.querySelector(".section-head");
      showBusy(section, head ? head.nextSibling : section.firstChild, "form-error", text);
    }
  });

  const rows = () => Array.from(document.querySelectorAll("#queue-rows tr[data-handoff]"));
  let selectedId = null;

  function selectedRow() {
    return selectedId ? document.getElementById("handoff-" + selectedId) : null;
  }

  function openPanel(row, extra) {
    if (!row || !window.htmx) return;
    htmx.ajax("GET", row.dataset.panelUrl + (extra || ""), { target: "#panel", swap: "outerHTML" });
  }

  function select(row, { open = true } = {}) {
    if (!row) return;
    rows().forEach((r) => { r.classList.remove("is-selected"); r.removeAttribute("aria-selected"); });
    row.classList.add("is-selected");
    row.setAttribute("aria-selected", "true");
    selectedId = row.dataset.handoff;
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
    if (open) openPanel(row);
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const index = all.indexOf(selectedRow());
    const next = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    select(all[next]);
  }

  function press(action) {
    const row = selectedRow();
    const button = row && row.querySelector('[data-action="' + action + '"]');
    if (button) button.click();
  }

  function closePanel() {
    const panel = document.getElementById("panel");
    if (!panel || panel.classList.contains("panel-empty")) return;
    panel.classList.add("panel-empty");
    panel.innerHTML = '<p class="muted">Select a lead to see its profile, score explanation and activity here.</p>';
    const row = selectedRow();
    if (row) row.focus({ preventScroll: true });
  }

  document.addEventListener("keydown", (event) => {
    if (!document.getElementById("queue-rows")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = (event.target.tagName || "").toLowerCase();
    if (event.key === "Escape") { closePanel(); return; }
    if (["input", "select", "textarea"].includes(tag) || event.target.isContentEditable) return;
    const keys = {
      j: () => move(1), k: () => move(-1),
      Enter: () => openPanel(selectedRow()), o: () => openPanel(selectedRow()),
      a: () => press("accept"), c: () => press("claim"),
      r: () => { const row = selectedRow(); if (row && row.querySelector('[data-action="reject"]')) openPanel(row, "?reject=1"); },
    };
    const handler = keys[event.key];
    if (!handler) return;
    if (event.key === "Enter" && (tag === "button" || tag === "a")) return; // Enter presses what has focus
    event.preventDefault();
    handler();
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-close-panel]")) { closePanel(); return; }
    const row = event.target.closest("#queue-rows tr[data-handoff]");
    if (!row) return;
    if (event.target.closest("a, button, input, select, textarea")) {
      // The row's own links and buttons act; just remember where we are.
      select(row, { open: false });
      return;
    }
    select(row);
  });

  // After a decision the row becomes a confirmation line: the selection moves on to the next
  // open row (without opening it), so j/a/r go on from there. A row still open stays selected.
  // The answer swaps the row out of band, and the button that asked is gone with it (its
  // events no longer reach the document): remember which row is being decided, and act when
  // that row has settled (htmx keeps the old row's classes on it until then).
  const ACTION = /\/queue\/(\d+)\/(accept|reject|claim|reassign)\/$/;
  let deciding = null;
  document.addEventListener("htmx:beforeRequest", (event) => {
    const match = ((event.detail.pathInfo && event.detail.pathInfo.requestPath) || "").match(ACTION);
    if (match) deciding = match[1];
  });
  document.addEventListener("htmx:afterSettle", (event) => {
    const row = event.target;
    if (!deciding || !row || row.id !== "handoff-" + deciding) return;
    deciding = null;
    if (!row.classList.contains("done")) { select(row, { open: false }); return; }
    const all = rows();
    const index = all.indexOf(row);
    const next = all.slice(index + 1).find((r) => !r.classList.contains("done")) ||
      all.slice(0, index).reverse().find((r) => !r.classList.contains("done"));
    if (next) select(next, { open: false });
    else selectedId = null;
  });

  // After a row is swapped (decision, conflict), keep the selection on it.
  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    if (target && target.id === "queue-results") { selectedId = null; return; }
    const row = selectedRow();
    if (row && !row.classList.contains("is-selected")) {
      row.classList.add("is-selected");
      row.setAttribute("aria-selected", "true");
      if (!document.activeElement || document.activeElement === document.body) row.focus({ preventScroll: true });
    }
  });
  // Below the side-by-side width the panel is a drawer over the rows: a decision taken in a
  // row updates the drawer's content but leaves it closed if it was closed.
  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    const target = event.detail.target;
    if (!target || target.id !== "panel" || getComputedStyle(target).position !== "fixed") return;
    if (!target.classList.contains("panel-empty") && !target.classList.contains("panel-closed")) return;
    const incoming = event.detail.fragment && event.detail.fragment.querySelector("#panel");
    if (incoming) incoming.classList.add("panel-closed");
  });
  document.addEventListener("htmx:oobAfterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "panel") {
      event.detail.target.classList.remove("panel-empty");
    }
  });
})();
