// The pickup screen by the door: live entries from the event stream, the connection banner with a
// polling fallback (the boards' own, static/js/board.js), a one-time flash for an order that turns
// ready, and "+N more" where a column holds more than fits: the screen never scrolls.
// htmx does the SSE connection; this file only places what arrives.
(() => {
  "use strict";

  const screen = document.getElementById("pickup");
  if (!screen) return;

  const STALE_AFTER_MS = 40_000; // the server pings every 15 s; silence this long means a dead link
  const POLL_AFTER_MS = 8_000; // how long a lost stream waits before falling back to polling
  const POLL_EVERY_MS = 15_000;
  const RESTART_GRACE_MS = 5_000; // a server that said it is stopping gets this long before the alarm
  const FLASH_MS = 2_000; // the length of the CSS animation .is-flashing runs once
  const connection = document.getElementById("connection");

  let lastHeard = Date.now();
  let lostSince = null;
  let restarting = false; // the server said it is stopping: a reconnect is expected, not an alarm
  let pollTimer = null;
  // Orders that left the screen, with the version they left at: leaving is final, and an older
  // event about them (a poll that crossed the stream) never brings them back.
  const gone = new Map();

  // ---- placing entries ----
  const lists = () => ({
    preparing: document.getElementById("pickup-preparing"),
    ready: document.getElementById("pickup-ready"),
  });
  const entries = () => [...document.querySelectorAll("#pickup-content .pickup-entry")];
  const version = (entry) => Number(entry.dataset.version || 0);
  const readyIds = () => new Set([...document.querySelectorAll("#pickup-ready .pickup-entry")].map((e) => e.dataset.orderId));

  function isStale(entry) {
    const left = gone.get(entry.dataset.orderId);
    return left !== undefined && left >= version(entry);
  }

  function place() {
    const homes = lists();
    if (!homes.preparing || !homes.ready) return;
    for (const entry of entries()) {
      const home = homes[entry.dataset.column] || homes.preparing;
      if (entry.parentElement !== home) home.appendChild(entry);
    }
    for (const list of [homes.preparing, homes.ready]) {
      // The server decides the order (board/rules.py position: soonest pickup first), as text.
      const position = (entry) => entry.dataset.position || "";
      const sorted = [...list.children].sort((a, b) => (position(a) < position(b) ? -1 : position(a) > position(b) ? 1 : 0));
      sorted.forEach((entry, index) => {
        if (list.children[index] !== entry) list.insertBefore(entry, list.children[index] || null);
      });
    }
    fit();
  }

  // Show what fits, soonest first, and count the rest: a column never scrolls.
  function fit() {
    for (const list of Object.values(lists())) {
      if (!list) continue;
      const shown = [...list.children];
      shown.forEach((entry) => { entry.hidden = false; });
      let hidden = 0;
      if (list.scrollHeight > list.clientHeight) {
        const first = shown.findIndex((entry) => entry.offsetTop + entry.offsetHeight > list.clientHeight);
        if (first >= 0) {
          for (const entry of shown.slice(first)) entry.hidden = true;
          hidden = shown.length - first;
        }
      }
      const more = list.parentElement.querySelector("[data-more]");
      if (more) more.textContent = hidden ? `+${hidden} more` : "";
    }
  }

  function flash(entry) {
    entry.classList.add("is-flashing");
    setTimeout(() => entry.classList.remove("is-flashing"), FLASH_MS + 200);
  }

  function flashNewlyReady(before) {
    for (const entry of document.querySelectorAll("#pickup-ready .pickup-entry")) {
      if (!before.has(entry.dataset.orderId)) flash(entry);
    }
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  function resync(html) {
    const before = readyIds();
    const content = document.getElementById("pickup-content");
    content.innerHTML = html;
    for (const entry of entries()) if (isStale(entry)) entry.remove();
    place();
    flashNewlyReady(before);
  }

  function upsert(html) {
    const incoming = fragment(html).firstElementChild;
    if (!incoming || isStale(incoming)) return;
    const existing = document.getElementById(incoming.id);
    // Events and a poll can cross: never put an older entry over a newer one.
    if (existing && version(existing) > version(incoming)) return;
    const wasReady = existing?.dataset.column === "ready";
    if (existing) existing.replaceWith(incoming);
    else (lists()[incoming.dataset.column] || lists().preparing)?.appendChild(incoming);
    place();
    if (incoming.dataset.column === "ready" && !wasReady) flash(incoming);
  }

  function remove(data) {
    const { orderId, version: leftAt } = JSON.parse(data);
    gone.set(orderId, Math.max(leftAt, gone.get(orderId) ?? 0));
    for (const entry of entries()) {
      if (entry.dataset.orderId === orderId && version(entry) <= leftAt) entry.remove();
    }
    fit();
  }

  // ---- the event stream (named SSE events arrive as DOM events on #pickup) ----
  const heard = () => { lastHeard = Date.now(); };
  screen.addEventListener("resync", (e) => { heard(); setConnection("live"); resync(e.detail.data); });
  screen.addEventListener("pickup", (e) => { heard(); upsert(e.detail.data); });
  screen.addEventListener("pickup-gone", (e) => { heard(); remove(e.detail.data); });
  screen.addEventListener("ping", heard);
  // Unpaired: nothing more may reach this screen. Reloading clears it and leads to pairing again.
  screen.addEventListener("signed-out", () => {
    screen.replaceChildren();
    window.location.assign("/pickup");
  });
  // The server is stopping: htmx reconnects, through the same address, to a process still running.
  screen.addEventListener("reconnect", () => {
    heard();
    restarting = true;
    setConnection("lost");
  });
  screen.addEventListener("offline", () => {
    heard();
    setConnection("lost");
    connection.textContent = "Server offline: this screen may be out of date";
  });
  screen.addEventListener("htmx:sse:after:connection", heard);
  screen.addEventListener("htmx:sse:error", () => setConnection("lost"));
  screen.addEventListener("htmx:sse:close", () => setConnection("lost"));

  function setConnection(state) {
    if (state === "live") {
      lostSince = null;
      restarting = false;
      stopPolling();
      connection.textContent = "Live";
    } else if (lostSince === null) {
      lostSince = Date.now();
      connection.textContent = restarting
        ? "Server restarting: reconnecting…"
        : "Connection lost: reconnecting… this screen may be out of date";
    }
    connection.className = "connection is-" + (state === "lost" && restarting ? "connecting" : state);
  }

  function stopPolling() {
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
  }

  async function poll() {
    try {
      const response = await fetch(screen.dataset.columnsUrl, { headers: { Accept: "text/html" }, cache: "no-store" });
      if (response.ok) {
        resync(await response.text());
        connection.textContent = "Stream lost: updating every 15 s";
      }
    } catch {
      // Still offline; the banner already says so.
    }
  }

  function watchConnection() {
    if (restarting && lostSince !== null && Date.now() - lostSince > RESTART_GRACE_MS) {
      // No server has taken the screen back: now it is an alarm.
      restarting = false;
      connection.textContent = "Connection lost: reconnecting… this screen may be out of date";
      connection.className = "connection is-lost";
    }
    if (lostSince === null && Date.now() - lastHeard > STALE_AFTER_MS) {
      setConnection("lost");
      // A link that died silently never errors; cancelling the reader makes htmx reconnect.
      screen._htmx?.sse?.reader?.cancel();
    }
    if (lostSince !== null && pollTimer === null && Date.now() - lostSince > POLL_AFTER_MS) {
      poll();
      pollTimer = setInterval(poll, POLL_EVERY_MS);
    }
  }

  // ---- the clock, on the kitchen's time zone ----
  const clockFormat = new Intl.DateTimeFormat([], {
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: screen.dataset.timezone || undefined,
  });

  function tick() {
    const clock = document.getElementById("clock");
    if (clock) clock.textContent = clockFormat.format(Date.now());
  }

  window.addEventListener("resize", fit);
  place();
  tick();
  setInterval(() => { tick(); watchConnection(); }, 1_000);
})();
