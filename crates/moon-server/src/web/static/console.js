// MoonInsurance console: small progressive enhancements. Every page works without this file;
// with it, destructive actions ask first, a refused form focuses its first error, a new
// token's secret has a copy button, the dashboard, homes and wallboard follow changes as they land
// (server-sent events, no polling), tables marked data-sortable sort by column, notifications are
// marked read in place (one or all), and an agent's open console shows new notifications as they
// arrive (toast, unread badge, inbox row). The agents and sales tables are not marked: their
// column headers are links that sort every page on the server.
(function () {
  "use strict";

  // Live views (dashboard, homes, wallboard) and, for an agent, live notifications: one event
  // stream per page (/live/events). A `change` event says that figures moved, never what they
  // are: the page refetches only its own fragment, sending the ETag it has, so an unchanged
  // fragment costs a 304. Changed figures are highlighted briefly. A hidden tab closes its
  // stream; when it is shown again it reopens from where it was and refetches once. Every event
  // id is the cursor to resume from; the browser sends it back (Last-Event-ID) when it
  // reconnects by itself, and the page passes it on when it reopens, so the server replays what
  // was missed, including a notification written between the page's rendering and the stream
  // opening (the page was rendered with its cursor).
  function live() {
    var src = document.body.getAttribute("data-live-stream");
    var region = document.getElementById("live");
    var inbox = document.body.hasAttribute("data-inbox");
    if (!src || (!region && !inbox)) return;
    var fragment = region ? region.getAttribute("data-live-src") : null;
    var status = document.getElementById("live-status");
    var etag = null, fetching = false, again = false, cursor = null, source = null, failures = 0;
    var state = function (s) { document.body.setAttribute("data-stream-state", s); };

    function refetch() {
      if (!fragment) return;
      if (fetching) { again = true; return; }
      fetching = true;
      var headers = { "Accept": "text/html" };
      if (etag) headers["If-None-Match"] = etag;
      fetch(fragment, { credentials: "same-origin", cache: "no-store", headers: headers })
        .then(function (res) {
          if (res.redirected || res.status === 401) { window.location.reload(); return null; }
          if (!res.ok) return null; // 304: nothing in this view changed
          etag = res.headers.get("ETag");
          return res.text();
        })
        .then(function (html) { if (html !== null) swap(html); })
        .catch(function () { /* keep the last figures; the next change tries again */ })
        .then(function () {
          fetching = false;
          // Changes during a fetch coalesce into one more, at most two a second (a busy branch
          // records several sales a second; the view need not redraw for each).
          if (again) { again = false; window.setTimeout(refetch, 500); }
        });
    }

    function swap(html) {
      var before = figures(region);
      region.innerHTML = html;
      enhanceTables(region);
      highlight(region, before);
      document.dispatchEvent(new Event("moon:updated"));
      if (status) status.textContent = "Updated at " + new Date().toLocaleTimeString();
    }

    function open() {
      if (source) return;
      var url = cursor ? src.replace(/from=[^&]*/, "from=" + encodeURIComponent(cursor)) : src;
      source = new EventSource(url);
      state("connecting");
      source.addEventListener("open", function () { failures = 0; state("open"); });
      source.addEventListener("change", function (e) {
        if (e.lastEventId) cursor = e.lastEventId;
        refetch();
      });
      source.addEventListener("notification", function (e) {
        if (e.lastEventId) cursor = e.lastEventId;
        if (!inbox) return;
        var n;
        try { n = JSON.parse(e.data); } catch (err) { return; }
        if (!n || typeof n.message !== "string") return;
        setUnread(unreadCount() + 1);
        toast(n.message);
        prependRow(n);
      });
      source.addEventListener("error", function () {
        failures += 1;
        // Closed by the server's refusal (signed out) or failing again and again: give up quietly.
        if (source && (source.readyState === EventSource.CLOSED || failures >= 5)) {
          source.close();
          source = null;
          state("closed");
        } else {
          state("reconnecting");
        }
      });
    }

    function close(why) {
      if (!source) return;
      source.close();
      source = null;
      state(why);
    }

    if (typeof window.EventSource !== "function") {
      // No EventSource: a slow check, cheap when nothing changed (a 304).
      if (fragment) window.setInterval(function () { if (!document.hidden) refetch(); }, 30000);
      return;
    }
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        close("paused");
      } else {
        open();
        refetch();
      }
    });
    window.addEventListener("pagehide", function () { close("closed"); });
    if (document.hidden) state("paused"); else open();
  }

  // The figures of a live region by a stable key: an element's id, a sale's id, or its place.
  function figures(root) {
    var map = {};
    Array.prototype.forEach.call(root.querySelectorAll(".value, td, li[data-sale], [data-figure]"), function (el, i) {
      map[key(el, i)] = el.textContent;
    });
    return map;
  }

  function key(el, i) {
    if (el.id) return "#" + el.id;
    if (el.hasAttribute("data-sale")) return "sale:" + el.getAttribute("data-sale");
    return "@" + i;
  }

  // Marks what differs from `before` for a moment (CSS class "changed").
  function highlight(root, before) {
    var changed = [];
    Array.prototype.forEach.call(root.querySelectorAll(".value, td, li[data-sale], [data-figure]"), function (el, i) {
      var k = key(el, i);
      if (before[k] !== el.textContent) changed.push(el);
    });
    changed.forEach(function (el) { el.classList.add("changed"); });
    window.setTimeout(function () { changed.forEach(function (el) { el.classList.remove("changed"); }); }, 2000);
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

  // A file picker marked data-fill reads the chosen file into the text box it names, so a CSV
  // file travels in the ordinary form post (with its CSRF token); pasting works without script.
  function fileFills() {
    Array.prototype.forEach.call(document.querySelectorAll("input[type=file][data-fill]"), function (input) {
      input.addEventListener("change", function () {
        var target = document.getElementById(input.getAttribute("data-fill"));
        var file = input.files && input.files[0];
        if (!target || !file) return;
        file.text().then(function (text) { target.value = text; });
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
    fileFills();
    enhanceTables(document);
    live();
    markRead();
    readAll();
  });
})();
