// MoonInsurance console: small progressive enhancements. Every page works without this file;
// with it, the dashboard refreshes itself, tables marked data-sortable sort by column and
// notifications are marked read in place. The agents and sales tables are not marked: their
// column headers are links that sort every page on the server.
(function () {
  "use strict";

  // Live dashboard: poll the server-rendered fragment for the same URL and swap it in when it
  // changed. The numbers follow a new sale within about two seconds, without a reload.
  function live() {
    var region = document.getElementById("live");
    if (!region) return;
    var src = region.getAttribute("data-live-src");
    var status = document.getElementById("live-status");
    var last = region.innerHTML;
    function tick() {
      fetch(src, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
        .then(function (res) {
          if (res.redirected || res.status === 401) { window.location.reload(); return null; }
          return res.ok ? res.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== last) {
            region.innerHTML = html;
            last = region.innerHTML;
            enhanceTables(region);
            if (status) status.textContent = "Updated at " + new Date().toLocaleTimeString();
          }
        })
        .catch(function () { /* keep the last figures; try again next tick */ })
        .then(function () { window.setTimeout(tick, 2000); });
    }
    window.setTimeout(tick, 2000);
  }

  // Sortable tables: each header of a table marked data-sortable becomes a button.
  function enhanceTables(root) {
    var tables = root.querySelectorAll("table[data-sortable]");
    Array.prototype.forEach.call(tables, function (table) {
      var heads = table.querySelectorAll("thead th");
      Array.prototype.forEach.call(heads, function (th, index) {
        if (th.querySelector("button") || th.hasAttribute("data-nosort")) return;
        var button = document.createElement("button");
        button.type = "button";
        button.className = "sort";
        button.textContent = th.textContent;
        th.textContent = "";
        th.appendChild(button);
        button.addEventListener("click", function () { sortBy(table, th, index); });
      });
    });
  }

  function cellValue(row, index) {
    var cell = row.children[index];
    if (!cell) return "";
    var raw = cell.getAttribute("data-value") || cell.textContent.trim();
    var n = Number(raw.replace(/,/g, ""));
    return raw !== "" && !isNaN(n) ? n : raw.toLowerCase();
  }

  function sortBy(table, th, index) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.querySelectorAll("thead th"), function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      if (x < y) return ascending ? -1 : 1;
      if (x > y) return ascending ? 1 : -1;
      return 0;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  // Mark a notification read through the API's PATCH, with the session's CSRF token.
  function markRead() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    Array.prototype.forEach.call(document.querySelectorAll("button[data-mark-read]"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var id = button.getAttribute("data-mark-read");
        fetch("/api/v1/notifications/" + encodeURIComponent(id), {
          method: "PATCH",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": meta ? meta.content : "" },
          body: JSON.stringify({ read: true })
        }).then(function (res) {
          if (res.ok) window.location.reload();
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhanceTables(document);
    live();
    markRead();
  });
})();
