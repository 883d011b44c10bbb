// The cook board's behaviour: live updates from the event stream, the connection banner with a
// polling fallback, countdowns, two-tap confirmation for big actions, and the new-ticket sound.
// htmx does the requests and the SSE connection; this file only places what arrives.
(() => {
  "use strict";

  const board = document.getElementById("board");
  if (!board) return;

  const STALE_AFTER_MS = 40_000; // the server pings every 15 s; silence this long means a dead link
  const POLL_AFTER_MS = 8_000; // how long a lost stream waits before falling back to polling
  const POLL_EVERY_MS = 15_000;
  const CONFIRM_FOR_MS = 4_000;
  const RESTART_GRACE_MS = 5_000; // a server that said it is stopping gets this long before the alarm
  const START_NOW_MS = 60_000; // a line is to "start now" within a minute of its start-by (board/rules.py)
  const connection = document.getElementById("connection");

  let lastHeard = Date.now();
  let lostSince = null;
  let restarting = false; // the server said it is stopping: a reconnect is expected, not an alarm
  let pollTimer = null;
  let soundOn = localStorage.getItem("kitchen.sound") === "on";

  // ---- placing tickets ----
  const lists = () => ({
    open: document.getElementById("tickets-open"),
    ready: document.getElementById("tickets-ready"),
  });

  function placeTickets() {
    const { open, ready } = lists();
    if (!open || !ready) return;
    for (const ticket of document.querySelectorAll("#board-content .ticket")) {
      const home = ticket.dataset.section === "ready" ? ready : open;
      if (ticket.parentElement !== home) home.appendChild(ticket);
    }
    for (const list of [open, ready]) {
      // The server decides the order (board/rules.py): its position text sorts as text.
      const position = (ticket) => ticket.dataset.position || "";
      const sorted = [...list.children].sort((a, b) => (position(a) < position(b) ? -1 : position(a) > position(b) ? 1 : 0));
      sorted.forEach((ticket, index) => {
        if (list.children[index] !== ticket) list.insertBefore(ticket, list.children[index] || null);
      });
    }
    tick();
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  function resync(html) {
    const content = document.getElementById("board-content");
    content.innerHTML = html;
    htmx.process(content);
    placeTickets();
  }

  function upsertTicket(html) {
    const incoming = fragment(html).firstElementChild;
    if (!incoming) return;
    const existing = document.getElementById(incoming.id);
    if (existing) {
      // A tap's answer and the stream's event can cross: never put an older ticket over a newer one.
      if (Number(existing.dataset.version || 0) > Number(incoming.dataset.version || 0)) return;
      existing.replaceWith(incoming);
    } else {
      lists().open?.appendChild(incoming);
      incoming.classList.add("is-new");
      setTimeout(() => incoming.classList.remove("is-new"), 6_000);
      beep();
    }
    htmx.process(incoming);
    placeTickets();
  }

  function removeTicket(orderId) {
    for (const ticket of document.querySelectorAll("#board-content .ticket")) {
      if (ticket.dataset.orderId === orderId) ticket.remove();
    }
  }

  // ---- the event stream (named SSE events arrive as DOM events on #board) ----
  const heard = () => { lastHeard = Date.now(); };
  board.addEventListener("resync", (e) => { heard(); setConnection("live"); resync(e.detail.data); });
  board.addEventListener("ticket", (e) => { heard(); upsertTicket(e.detail.data); });
  board.addEventListener("ticket-gone", (e) => { heard(); removeTicket(e.detail.data); });
  board.addEventListener("all-day", (e) => {
    heard();
    const panel = document.getElementById("all-day");
    if (panel) panel.innerHTML = e.detail.data;
  });
  board.addEventListener("alarms", (e) => {
    heard();
    const alarms = document.getElementById("alarms");
    if (alarms) alarms.outerHTML = e.detail.data;
  });
  board.addEventListener("ping", heard);
  // Signed out, or the tablet was unpaired: nothing more may reach this screen. Reloading
  // clears it and leads to pairing (or sign-in) again.
  board.addEventListener("signed-out", () => {
    board.replaceChildren();
    window.location.assign("/board");
  });
  // The server is stopping (a deploy, a restart): the stream ends now and htmx reconnects, through
  // the same address, to a worker or host still running; its resync brings everything back.
  board.addEventListener("reconnect", () => {
    heard();
    restarting = true;
    setConnection("lost");
  });
  board.addEventListener("offline", () => {
    heard();
    setConnection("lost");
    connection.textContent = "Server offline: its database is unreachable, taps are not saved";
  });
  board.addEventListener("htmx:sse:after:connection", heard);
  board.addEventListener("htmx:sse:error", () => setConnection("lost"));
  board.addEventListener("htmx:sse:close", () => setConnection("lost"));

  // After a tap, the answered ticket may belong in another section, or be gone.
  document.addEventListener("htmx:after:swap", placeTickets);

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
        : "Connection lost: reconnecting… changes may be missing";
    }
    connection.className = "connection is-" + (state === "lost" && restarting ? "connecting" : state);
  }

  function stopPolling() {
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
  }

  async function poll() {
    try {
      const response = await fetch(board.dataset.ticketsUrl, { headers: { Accept: "text/html" }, cache: "no-store" });
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
      // No server has taken the board back: now it is an alarm.
      restarting = false;
      connection.textContent = "Connection lost: reconnecting… changes may be missing";
      connection.className = "connection is-lost";
    }
    if (lostSince === null && Date.now() - lastHeard > STALE_AFTER_MS) {
      setConnection("lost");
      // A link that died silently never errors; cancelling the reader makes htmx reconnect.
      board._htmx?.sse?.reader?.cancel();
    }
    if (lostSince !== null && pollTimer === null && Date.now() - lostSince > POLL_AFTER_MS) {
      poll();
      pollTimer = setInterval(poll, POLL_EVERY_MS);
    }
  }

  // ---- clocks, countdowns, urgency, undo expiry ----
  // The kitchen's time zone, like the pickup times on the tickets, whatever the tablet is set to.
  const clockFormat = new Intl.DateTimeFormat([], {
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: board.dataset.timezone || undefined,
  });
  const minutes = (ms) => Math.round(Math.abs(ms) / 60_000);

  function tick() {
    const now = Date.now();
    const clock = document.getElementById("clock");
    if (clock) clock.textContent = clockFormat.format(now);
    for (const ticket of document.querySelectorAll("#board-content .ticket")) {
      const left = Date.parse(ticket.dataset.pickupAt) - now;
      const countdown = ticket.querySelector("[data-countdown]");
      if (countdown) countdown.textContent = left >= 0 ? `in ${minutes(left)} min` : `${minutes(left)} min late`;
      const age = ticket.querySelector("[data-age]");
      if (age) age.textContent = `in for ${minutes(now - Date.parse(ticket.dataset.arrivedAt))} min`;
      // The server wrote when this ticket turns amber and red; the script only follows the clock.
      if (ticket.dataset.lateAt) {
        const late = now > Date.parse(ticket.dataset.lateAt);
        const soon = !late && now >= Date.parse(ticket.dataset.soonAt);
        ticket.classList.toggle("urgency-late", late);
        ticket.classList.toggle("urgency-soon", soon);
        ticket.classList.toggle("urgency-ok", !late && !soon);
      }
      // A station's lines say when to start them, as board/rules.py start_by_now words it.
      for (const line of ticket.querySelectorAll("[data-start-by]")) {
        const behindMs = now - Date.parse(line.dataset.startBy);
        const label = line.querySelector("[data-start-label]");
        const behind = behindMs >= START_NOW_MS;
        if (label) {
          label.textContent = behindMs < -START_NOW_MS ? `start ${label.dataset.startLocal}`
            : behind ? `${Math.floor(behindMs / 60_000)} min behind` : "start now";
        }
        line.classList.toggle("is-behind", behind);
      }
      for (const undo of ticket.querySelectorAll("[data-undo-until]")) {
        if (Date.parse(undo.dataset.undoUntil) <= now) undo.remove();
      }
    }
  }

  // ---- two taps for actions that move a whole order ----
  document.addEventListener(
    "click",
    (event) => {
      const button = event.target.closest?.("[data-confirm-tap]");
      if (!button || button.classList.contains("is-armed")) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      const label = button.textContent;
      button.classList.add("is-armed");
      button.textContent = button.dataset.confirmTap;
      setTimeout(() => {
        button.classList.remove("is-armed");
        button.textContent = label;
      }, CONFIRM_FOR_MS);
    },
    true, // capture: runs before htmx sees the click
  );

  // ---- sound for new tickets (browsers allow audio only after a tap) ----
  const soundButton = document.getElementById("sound-toggle");
  let audio = null;

  function showSound() {
    soundButton.textContent = soundOn ? "Sound on" : "Sound off";
    soundButton.setAttribute("aria-pressed", String(soundOn));
  }

  soundButton?.addEventListener("click", () => {
    soundOn = !soundOn;
    localStorage.setItem("kitchen.sound", soundOn ? "on" : "off");
    showSound();
    if (soundOn) beep();
  });

  function beep() {
    if (!soundOn) return;
    audio = audio || new AudioContext();
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.25, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.4);
  }

  if (soundButton) showSound();
  placeTickets();
  setInterval(() => { tick(); watchConnection(); }, 1_000);
})();
