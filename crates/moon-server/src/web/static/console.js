// MoonInsurance console: small progressive enhancements. Every page works without this file;
// with it, destructive actions ask first, a refused form focuses its first error, a new
// token's secret has a copy button, the dashboard refreshes itself, tables marked data-sortable sort by column,
// notifications are marked read in place (one or all), and an agent's open console shows new
// notifications as they arrive (toast, unread badge, inbox row). The agents and sales tables are not marked: their
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
            document.dispatchEvent(new Event("moon:updated"));
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
    Array.prototype.forEach.call(document.querySelectorAll("button[data-mark-read]"), wireMarkRead);
  }

  function wireMarkRead(button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var id = button.getAttribute("data-mark-read");
      fetch("/api/v1/notifications/" + encodeURIComponent(id), {
        method: "PATCH",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify({ read: true })
      }).then(function (res) {
        if (res.ok) window.location.reload();
      }).catch(function () { /* nothing changed; the button stays */ });
    });
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // The unread count in the navigation's badge (created if the page had none) and, on the
  // inbox, in its "You have n unread messages." line.
  function unreadCount() {
    var badge = document.getElementById("unread-count");
    return badge ? Number(badge.textContent) || 0 : 0;
  }

  function setUnread(n) {
    var badge = document.getElementById("unread-count");
    if (!badge) {
      var link = document.querySelector('nav[aria-label="Main"] a[href="/notifications"]');
      if (!link) return;
      badge = document.createElement("span");
      badge.className = "badge";
      badge.id = "unread-count";
      var label = document.createElement("span");
      label.className = "sr-only";
      label.textContent = " unread";
      link.appendChild(document.createTextNode(" "));
      link.appendChild(badge);
      link.appendChild(label);
    }
    badge.textContent = String(n);
    var line = document.getElementById("inbox-unread");
    if (line) {
      var count = document.createElement("strong");
      count.textContent = String(n);
      line.textContent = "You have ";
      line.appendChild(count);
      line.appendChild(document.createTextNode(" unread " + (n === 1 ? "message" : "messages") + "."));
    }
  }

  // A small dismissible notice in the page's polite live region; the text is set as text, never
  // parsed as markup.
  function toast(message) {
    var region = document.getElementById("live-notices");
    if (!region) return;
    var item = document.createElement("div");
    item.className = "toast";
    var textNode = document.createElement("p");
    textNode.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "secondary";
    close.textContent = "Dismiss";
    close.setAttribute("aria-label", "Dismiss notification");
    close.addEventListener("click", function () { region.removeChild(item); });
    item.appendChild(textNode);
    item.appendChild(close);
    region.appendChild(item);
    while (region.children.length > 3) region.removeChild(region.firstElementChild);
  }

  // The inbox's first page: the new notification becomes its top row, as the server renders it.
  function prependRow(n) {
    var body = document.querySelector("tbody[data-live-rows]");
    if (!body || document.querySelector('tr[data-id="' + n.id + '"]')) return;
    Array.prototype.forEach.call(body.querySelectorAll("tr[data-empty]"), function (r) { body.removeChild(r); });
    var row = document.createElement("tr");
    row.setAttribute("data-id", String(n.id));
    var sent = document.createElement("td");
    sent.textContent = String(n.created_at || "").replace("T", " ").slice(0, 16);
    var message = document.createElement("td");
    message.textContent = n.message;
    var status = document.createElement("td");
    var unread = document.createElement("strong");
    unread.textContent = "Unread";
    status.appendChild(unread);
    status.appendChild(document.createTextNode(" "));
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.setAttribute("data-mark-read", String(n.id));
    button.textContent = "Mark read";
    status.appendChild(button);
    row.appendChild(sent);
    row.appendChild(message);
    row.appendChild(status);
    body.insertBefore(row, body.firstChild);
    wireMarkRead(button);
  }

  // Live notifications: an agent's console listens to the API's event stream on every page. The
  // browser reconnects by itself (sending Last-Event-ID, so nothing is missed); a stream that
  // keeps failing without ever opening, or that the server refused, is given up quietly.
  function listen() {
    var src = document.body.getAttribute("data-notification-stream");
    if (!src || typeof window.EventSource !== "function") return;
    var failures = 0;
    var source = new EventSource(src);
    // The stream's state, for whoever needs to know that the console is listening (the tests).
    var state = function (s) { document.body.setAttribute("data-stream-state", s); };
    source.addEventListener("open", function () { failures = 0; state("open"); });
    source.addEventListener("notification", function (e) {
      var n;
      try { n = JSON.parse(e.data); } catch (err) { return; }
      if (!n || typeof n.message !== "string") return;
      setUnread(unreadCount() + 1);
      toast(n.message);
      prependRow(n);
    });
    source.addEventListener("error", function () {
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures >= 5) {
        source.close();
        state("closed");
      } else {
        state("reconnecting");
      }
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  // "Mark all read" through the API's POST; the page then shows every row read.
  function readAll() {
    var button = document.querySelector("button[data-read-all]");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      fetch(button.getAttribute("data-read-all"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken() }
      }).then(function (res) {
        if (!res.ok) return;
        setUnread(0);
        Array.prototype.forEach.call(document.querySelectorAll("button[data-mark-read]"), function (b) {
          var cell = b.parentNode;
          cell.textContent = "Read";
        });
      }).catch(function () { /* the page still shows the truth; try again */ });
    });
  }

  // Destructive actions ask first: a form marked data-confirm is sent only after a "yes".
  function confirmations() {
    document.addEventListener("submit", function (e) {
      var form = e.target;
      var question = form && form.getAttribute && form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) e.preventDefault();
    }, true);
  }

  // After a refused form, the first field in error gets the focus and is scrolled into view,
  // so the reader starts where the fix is (the error summary above links to every field).
  function focusFirstError() {
    var field = document.querySelector('main [aria-invalid="true"]');
    if (!field) return;
    field.focus({ preventScroll: true });
    field.scrollIntoView({ block: "center" });
  }

  // A copy button beside a secret shown once (a new API token).
  function copyButtons() {
    Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (!source) return;
        var status = document.getElementById(button.getAttribute("aria-describedby") || "");
        var done = function (ok) { if (status) status.textContent = ok ? "Copied." : "Select the text and copy it."; };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(source.textContent.trim()).then(function () { done(true); }, function () { done(false); });
        } else {
          done(false);
        }
      });
    });
  }

  // A table or chart wider than the screen scrolls sideways; the keyboard must reach it too, so
  // an overflowing scroll container joins the tab order (and leaves it when it fits again).
  function scrollers() {
    var mark = function () {
      Array.prototype.forEach.call(document.querySelectorAll(".table-wrap, .chart-scroll"), function (el) {
        if (el.scrollWidth > el.clientWidth + 1) {
          el.setAttribute("tabindex", "0");
        } else {
          el.removeAttribute("tabindex");
        }
      });
    };
    mark();
    window.addEventListener("resize", mark);
    document.addEventListener("moon:updated", mark);
  }

  document.addEventListener("DOMContentLoaded", function () {
    scrollers();
    confirmations();
    focusFirstError();
    copyButtons();
    enhanceTables(document);
    live();
    markRead();
    readAll();
    listen();
  });
})();
