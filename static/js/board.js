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
  const tickets = () => document.querySelectorAll("#board-content .ticket");
  const byId = (id) => document.getElementById(id);

  // ---- no layout shift under a finger ----
  // A cook touching the board (pointer down, or a tap or key in the last HOLD_MS) holds it still:
  // changes from other boards wait and are placed after; new tickets are announced ("3 new ↑") and
  // wait NEW_AFTER_MS of no touch, so a cook working through tickets is not pushed about.
  const HOLD_MS = 2_000;
  const NEW_AFTER_MS = 3_000;
  let pointerDown = false;
  let lastTouch = 0;
  const waiting = new Map(); // ticket id -> the newest fragment that came while the board was held
  const held = (ms = HOLD_MS) => pointerDown || Date.now() - lastTouch < ms;

  board.addEventListener("pointerdown", () => { pointerDown = true; lastTouch = Date.now(); }, true);
  document.addEventListener("pointerup", () => { pointerDown = false; lastTouch = Date.now(); }, true);
  document.addEventListener("pointercancel", () => { pointerDown = false; }, true);

  function placeTickets() {
    const { open, ready } = lists();
    if (!open || !ready) return;
    for (const ticket of tickets()) {
      if (ticket.classList.contains("is-leaving")) { ticket.remove(); continue; }
      const home = ticket.dataset.section === "ready" ? ready : open;
      if (ticket.parentElement !== home) home.appendChild(ticket);
    }
    for (const list of [open, ready]) {
      // The server decides the order (board/rules.py): its position text sorts as text.
      const position = (ticket) => ticket.dataset.position || "";
      const sorted = [...list.querySelectorAll(":scope > .ticket")]
        .sort((a, b) => (position(a) < position(b) ? -1 : position(a) > position(b) ? 1 : 0));
      sorted.forEach((ticket, index) => {
        if (list.children[index] !== ticket) list.insertBefore(ticket, list.children[index] || null);
      });
    }
    layout();
    keepSelection();
    tick();
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  function resync(html) {
    waiting.clear();
    const content = document.getElementById("board-content");
    content.innerHTML = html;
    htmx.process(content);
    restoreAllDay();
    placeTickets();
  }

  function upsertTicket(html) {
    const incoming = fragment(html).firstElementChild;
    if (!incoming) return;
    const existing = byId(incoming.id);
    // A tap's answer and the stream's event can cross: never put an older ticket over a newer one.
    const newest = Math.max(Number(existing?.dataset.version || 0), Number(waiting.get(incoming.id)?.dataset.version || 0));
    if (newest > Number(incoming.dataset.version || 0)) return;
    if (held()) {
      waiting.set(incoming.id, incoming);
      announce();
      return;
    }
    put(incoming);
    placeTickets();
  }

  function put(incoming) {
    const existing = byId(incoming.id);
    if (existing) {
      existing.replaceWith(incoming);
    } else {
      lists().open?.appendChild(incoming);
      incoming.classList.add("is-new");
      setTimeout(() => incoming.classList.remove("is-new"), 6_000);
      beep();
    }
    htmx.process(incoming);
  }

  function removeTicket(orderId) {
    for (const ticket of tickets()) {
      if (ticket.dataset.orderId !== orderId) continue;
      waiting.delete(ticket.id);
      // Held: it keeps its place, invisible, until the board is let go.
      if (held()) ticket.classList.add("is-leaving");
      else ticket.remove();
    }
    for (const [id, ticket] of waiting) if (ticket.dataset.orderId === orderId) waiting.delete(id);
    if (!held()) placeTickets();
  }

  // "3 new, late first": tickets that would move the board under the cook's finger, waiting.
  const newTickets = () => document.getElementById("new-tickets");
  function announce() {
    const button = newTickets();
    if (!button) return;
    const fresh = [...waiting.values()].filter((t) => !byId(t.id));
    button.hidden = fresh.length === 0;
    const late = fresh.some((t) => t.dataset.lateAt && Date.parse(t.dataset.lateAt) < Date.now());
    button.textContent = `${fresh.length} new${late ? ", late first" : ""} ↑`;
    button.classList.toggle("is-late", late);
  }

  function release() {
    if (held()) return;
    const leaving = document.querySelector("#board-content .ticket.is-leaving");
    const fresh = [...waiting.values()].filter((t) => !byId(t.id));
    const changed = [...waiting.values()].filter((t) => byId(t.id));
    const placeNew = fresh.length > 0 && !held(NEW_AFTER_MS);
    if (!changed.length && !placeNew && !leaving && !needsPlacing) return;
    needsPlacing = false;
    for (const ticket of [...changed, ...(placeNew ? fresh : [])]) {
      put(ticket);
      waiting.delete(ticket.id);
    }
    announce();
    placeTickets();
  }
  let needsPlacing = false;

  board.addEventListener("click", (event) => {
    if (event.target.closest?.("#new-tickets")) {
      lastTouch = 0;
      pointerDown = false;
      release();
      showPage(0);
    }
  });

  // ---- columns and pages ----
  let page = 0;
  let pages = 1;

  function columnsFor(width) {
    const rem = parseFloat(getComputedStyle(board).fontSize);
    const gap = 0.6 * rem;
    const narrowest = Math.max(14 * rem, 230); // room for an item's name at 18 px and its status
    return { count: Math.max(1, Math.floor((width + gap) / (narrowest + gap))), gap };
  }

  // Lays the open tickets into columns, repeats the head of a ticket that goes on in the next
  // column, and counts the pages. Nothing moves while a cook is touching the board.
  function layout() {
    const { open } = lists();
    const view = open?.parentElement;
    if (!open || !view) return;
    for (const head of open.querySelectorAll(".cont-head")) head.remove();
    for (const moved of open.querySelectorAll(".starts-column")) moved.classList.remove("starts-column");
    const { count, gap } = columnsFor(view.clientWidth);
    open.style.setProperty("--columns", String(count));
    open.style.setProperty("--column-gap", `${gap}px`);
    const pageWidth = view.clientWidth + gap;
    const origin = () => open.getBoundingClientRect().left;
    let lastPage = 0;
    for (const ticket of open.querySelectorAll(":scope > .ticket")) {
      if (ticket.getClientRects().length > 1) continueInNextColumn(ticket);
      let all = ticket.getClientRects();
      const pageOf = (rect) => Math.floor((rect.left - origin() + 1) / pageWidth);
      if (pageOf(all[0]) !== pageOf(all[all.length - 1]) && all[0].top > view.getBoundingClientRect().top + 4) {
        // Never half on one page and half on the next: the whole ticket opens the next page.
        for (const head of ticket.querySelectorAll(".cont-head")) head.remove();
        ticket.classList.add("starts-column");
        if (ticket.getClientRects().length > 1) continueInNextColumn(ticket);
        all = ticket.getClientRects();
      }
      const first = pageOf(all[0]);
      const last = pageOf(all[all.length - 1]);
      ticket.dataset.page = String(first);
      lastPage = Math.max(lastPage, last);
    }
    pages = lastPage + 1;
    showPage(Math.min(page, pages - 1));
  }

  function continueInNextColumn(ticket) {
    const parts = [...ticket.children].flatMap((part) => (part.matches("ul.items") ? [...part.children] : [part]));
    const firstLeft = parts[0]?.getBoundingClientRect().left;
    const next = parts.find((part) => Math.abs(part.getBoundingClientRect().left - firstLeft) > 2);
    if (!next) return;
    if (!next.previousElementSibling?.matches?.("li.item") && !next.matches("li.item ~ li, footer")) {
      // Only its head would be left at the foot of the column: the whole ticket starts the next one.
      ticket.classList.add("starts-column");
      return;
    }
    const head = document.createElement(next.tagName === "LI" ? "li" : "div");
    head.className = "cont-head";
    head.setAttribute("aria-hidden", "true");
    head.append(`${ticket.querySelector(".channel-id")?.textContent || ""} · cont.`);
    const brand = ticket.querySelector(".brand-badge")?.cloneNode(true);
    if (brand) head.append(brand);
    next.before(head);
  }

  function showPage(number) {
    const { open } = lists();
    if (!open) return;
    page = Math.max(0, Math.min(number, pages - 1));
    const view = open.parentElement;
    const { gap } = columnsFor(view.clientWidth);
    open.style.transform = page ? `translateX(${-page * (view.clientWidth + gap)}px)` : "";
    const later = [...open.querySelectorAll(":scope > .ticket")].filter((t) => Number(t.dataset.page) > page).length;
    const label = document.getElementById("page-label");
    if (label) label.textContent = `page ${page + 1} of ${pages}${later ? ` · ${later} more` : ""}`;
    for (const button of document.querySelectorAll("[data-page-step]")) {
      button.disabled = Number(button.dataset.pageStep) < 0 ? page === 0 : page >= pages - 1;
    }
    document.querySelector(".pager")?.classList.toggle("is-single", pages <= 1);
  }

  board.addEventListener("click", (event) => {
    const button = event.target.closest?.("[data-page-step]");
    if (button) showPage(page + Number(button.dataset.pageStep));
  });
  window.addEventListener("resize", () => { if (!held()) layout(); });

  // ---- all day: open or folded, as this tablet last left it ----
  const allDayKey = `kitchen.allDay.${board.dataset.station}`;
  function restoreAllDay() {
    const panel = document.getElementById("all-day");
    const folded = localStorage.getItem(allDayKey) === "folded";
    panel?.classList.toggle("is-collapsed", folded);
    panel?.querySelector("[data-all-day-toggle]")?.setAttribute("aria-expanded", String(!folded));
  }
  function toggleAllDay() {
    localStorage.setItem(allDayKey, localStorage.getItem(allDayKey) === "folded" ? "open" : "folded");
    restoreAllDay();
  }
  board.addEventListener("click", (event) => {
    if (event.target.closest?.("[data-all-day-toggle]")) toggleAllDay();
    // A ready ticket beside the board shows its lines when its head is tapped.
    const head = event.target.closest?.(".ready-list .ticket-head");
    if (head && !event.target.closest("button")) head.closest(".ticket").classList.toggle("is-open");
  });

  // ---- this tablet's undo stack (the server keeps it too: kitchen/orders/taps.py) ----
  let undoStack = [];
  try { undoStack = JSON.parse(board.dataset.undoStack || "[]").reverse(); } catch { undoStack = []; }
  const undoButton = document.getElementById("undo-last");

  function openTaps() {
    const now = Date.now();
    undoStack = undoStack.filter((tap) => Date.parse(tap.until) > now);
    return undoStack;
  }

  function showUndo() {
    const taps = openTaps();
    if (undoButton) {
      undoButton.disabled = taps.length === 0;
      undoButton.textContent = taps.length > 1 ? `Undo (${taps.length})` : "Undo";
    }
    const mine = new Set(taps.map((tap) => tap.order));
    for (const button of document.querySelectorAll("#board-content [data-undo]")) {
      button.hidden = !mine.has(button.closest(".ticket")?.dataset.orderId);
    }
  }

  // Every tap's answer says which change it made ("<id> <until>"), also when the ticket left the board.
  document.addEventListener("htmx:after:request", (event) => {
    const tap = event.detail?.ctx?.response?.headers?.get("Kitchen-Tap");
    const orderId = event.target?.closest?.(".ticket")?.dataset.orderId;
    if (!tap || !orderId) return;
    const [id, until] = tap.split(" ");
    undoStack.push({ id: Number(id), order: orderId, until });
    showUndo();
  });

  async function undo(orderId) {
    const taps = openTaps();
    const index = orderId === undefined ? taps.length - 1 : taps.map((t) => t.order).lastIndexOf(orderId);
    if (index < 0) return;
    const [tap] = taps.splice(index, 1);
    showUndo();
    lastTouch = Date.now();
    const token = document.querySelector('meta[name="csrf-token"]')?.content || "";
    try {
      const response = await fetch(`/board/taps/${tap.id}/undo${board.dataset.stationQuery || ""}`, {
        method: "POST", headers: { "x-csrftoken": token, Accept: "text/html" }, cache: "no-store",
      });
      const html = await response.text();
      if (response.status === 200 || response.status === 409) {
        if (html.trim()) upsertNow(html);
        else removeTicket(tap.order);
      }
    } catch {
      taps.push(tap); // offline: it stays on the stack, the banner says why
      showUndo();
    }
  }

  // The cook's own undo: placed at once, like a tap's answer.
  function upsertNow(html) {
    const incoming = fragment(html).firstElementChild;
    if (!incoming) return;
    waiting.delete(incoming.id);
    put(incoming);
    placeTickets();
  }

  undoButton?.addEventListener("click", () => undo());
  board.addEventListener("click", (event) => {
    const button = event.target.closest?.("[data-undo]");
    if (button) undo(button.closest(".ticket")?.dataset.orderId);
  });

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

  // After a tap, the answered ticket may belong in another section, or be gone: placed once the
  // cook lets go, so the next ticket is where the finger expects it.
  document.addEventListener("htmx:after:swap", () => {
    lastTouch = Date.now();
    needsPlacing = true;
    tick();
  });

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
  // As people say it: "12 min", "2 h 5 min", "3 d 4 h" (a pickup years away reads as days, no more).
  function span(ms) {
    const total = Math.floor(Math.abs(ms) / 60_000);
    const days = Math.floor(total / 1440);
    const hours = Math.floor((total % 1440) / 60);
    const mins = total % 60;
    if (days) return `${days} d${hours ? ` ${hours} h` : ""}`;
    if (hours) return `${hours} h${mins ? ` ${mins} min` : ""}`;
    return `${mins} min`;
  }

  function tick() {
    const now = Date.now();
    const clock = document.getElementById("clock");
    if (clock) clock.textContent = clockFormat.format(now);
    for (const ticket of document.querySelectorAll("#board-content .ticket")) {
      const left = Date.parse(ticket.dataset.pickupAt) - now;
      const countdown = ticket.querySelector("[data-countdown]");
      if (countdown) countdown.textContent = left >= 0 ? `in ${span(left)}` : `${span(left)} late`;
      const age = ticket.querySelector("[data-age]");
      if (age) age.textContent = `in for ${span(now - Date.parse(ticket.dataset.arrivedAt))}`;
      // Ready, the pickup time passed, and no courier: expo's problem, said on the ticket.
      if (ticket.dataset.section === "ready") ticket.classList.toggle("is-courier-late", left < 0);
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
    }
    count(now);
    showUndo();
  }

  // The header's counts, from the tickets this board holds (and those waiting to be placed).
  function count(now) {
    const all = [...tickets()].filter((t) => !t.classList.contains("is-leaving"));
    for (const t of waiting.values()) if (!byId(t.id)) all.push(t);
    const open = all.filter((t) => t.dataset.section === "open");
    const set = (name, value) => {
      const cell = document.querySelector(`[data-count="${name}"]`);
      if (!cell) return;
      cell.textContent = String(value);
      cell.parentElement.classList.toggle("is-on", value !== 0 && value !== "–");
    };
    set("open", open.length);
    set("late", open.filter((t) => t.dataset.lateAt && now > Date.parse(t.dataset.lateAt)).length);
    const ready = all.filter((t) => t.dataset.section === "ready");
    set("ready", ready.length);
    set("courier", ready.filter((t) => now > Date.parse(t.dataset.pickupAt)).length);
    const oldest = Math.min(...open.map((t) => Date.parse(t.dataset.arrivedAt)).filter((at) => !Number.isNaN(at)));
    set("oldest", Number.isFinite(oldest) ? span(now - oldest) : "–");
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

  // ---- keys, as bump bars send them ----
  const ACTIONS = [
    ["nextTicket", "next ticket", ["ArrowRight"]],
    ["previousTicket", "previous ticket", ["ArrowLeft"]],
    ["nextLine", "next line of the ticket", ["ArrowDown"]],
    ["previousLine", "previous line of the ticket", ["ArrowUp"]],
    ["advance", "advance the line (ORDERED → PREPARING → READY)", ["Enter", " "]],
    ["bump", "all ready (press twice)", ["b"]],
    ["recall", "recall a ready ticket (press twice)", ["r"]],
    ["pickup", "picked up (press twice)", ["p"]],
    ["undo", "undo this tablet's last change", ["u", "Backspace"]],
    ["nextPage", "next page", ["PageDown", "n"]],
    ["previousPage", "previous page", ["PageUp"]],
    ["allDay", "show or fold all day", ["a"]],
    ["help", "this key map", ["?"]],
  ];
  const keysKey = `kitchen.keys.${board.dataset.station}`;
  let keyMap = loadKeys();
  let capturing = null; // the action whose new key the next key press is

  function loadKeys() {
    const standard = Object.fromEntries(ACTIONS.map(([action, , keys]) => [action, keys]));
    try {
      return { ...standard, ...JSON.parse(localStorage.getItem(keysKey) || "{}") };
    } catch {
      return standard;
    }
  }

  const keyName = (key) => (key === " " ? "Space" : key);
  function showKeyMap() {
    const body = document.getElementById("key-map");
    if (!body) return;
    body.replaceChildren();
    for (const [action, label] of [...ACTIONS, ["digits", "ticket 1–9 on this page", null]]) {
      const row = body.insertRow();
      row.insertCell().textContent = label;
      const keys = row.insertCell();
      for (const key of action === "digits" ? ["1", "…", "9"] : keyMap[action]) {
        const kbd = document.createElement("kbd");
        kbd.textContent = keyName(key);
        keys.append(kbd);
      }
      const change = row.insertCell();
      if (action === "digits") continue;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "bar-button";
      button.dataset.changeKey = action;
      button.textContent = capturing === action ? "Press a key…" : "Change";
      change.append(button);
    }
  }

  const help = document.getElementById("help");
  function toggleHelp(open = help?.hidden) {
    if (!help) return;
    help.hidden = !open;
    capturing = null;
    if (open) showKeyMap();
  }
  document.getElementById("help-toggle")?.addEventListener("click", () => toggleHelp());
  help?.addEventListener("click", (event) => {
    const change = event.target.closest?.("[data-change-key]");
    if (change) { capturing = change.dataset.changeKey; showKeyMap(); }
    if (event.target.closest?.("[data-help-close]")) toggleHelp(false);
    if (event.target.closest?.("[data-keys-reset]")) {
      localStorage.removeItem(keysKey);
      keyMap = loadKeys();
      showKeyMap();
    }
  });

  // The selected ticket (its DOM id) and line, with a focus ring.
  let selected = { ticket: null, line: 0 };
  function inOrder() {
    const { open, ready } = lists();
    const onPage = [...(open?.querySelectorAll(":scope > .ticket") || [])]
      .filter((t) => !t.classList.contains("is-leaving"));
    return [...onPage, ...(ready?.querySelectorAll(":scope > .ticket") || [])];
  }
  function select(ticket, line = 0) {
    for (const old of document.querySelectorAll(".is-selected")) old.classList.remove("is-selected");
    selected = { ticket: ticket?.id || null, line };
    if (!ticket) return;
    ticket.classList.add("is-selected");
    const lines = ticket.querySelectorAll(".items > li.item");
    selected.line = Math.max(0, Math.min(line, lines.length - 1));
    lines[selected.line]?.classList.add("is-selected");
    if (ticket.dataset.page !== undefined && ticket.closest("#tickets-open")) showPage(Number(ticket.dataset.page));
  }
  const selectedTicket = () => (selected.ticket ? byId(selected.ticket) : null);
  function step(by) {
    const all = inOrder();
    if (!all.length) return;
    const at = all.indexOf(selectedTicket());
    const onPage = all.findIndex((t) => Number(t.dataset.page || 0) === page);
    const next = at < 0 ? Math.max(onPage, 0) : (at + by + all.length) % all.length;
    select(all[next]);
  }
  function press(selector) {
    const ticket = selectedTicket();
    ticket?.querySelector(selector)?.click();
  }

  const KEY_ACTIONS = {
    nextTicket: () => step(1),
    previousTicket: () => step(-1),
    nextLine: () => select(selectedTicket() || inOrder()[0], selected.line + 1),
    previousLine: () => select(selectedTicket() || inOrder()[0], selected.line - 1),
    advance: () => {
      const line = selectedTicket()?.querySelectorAll(".items > li.item")[selected.line];
      line?.querySelector("button.item-tap")?.click();
    },
    bump: () => press(".action.bump"),
    recall: () => press(".action.recall"),
    pickup: () => press(".action.pickup"),
    undo: () => undo(),
    nextPage: () => showPage(page + 1),
    previousPage: () => showPage(page - 1),
    allDay: toggleAllDay,
    help: () => toggleHelp(),
  };

  document.addEventListener("keydown", (event) => {
    if (event.target.closest?.("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    if (capturing) {
      event.preventDefault();
      if (event.key !== "Escape") {
        keyMap[capturing] = [event.key];
        localStorage.setItem(keysKey, JSON.stringify(keyMap));
      }
      capturing = null;
      showKeyMap();
      return;
    }
    if (event.key === "Escape") {
      if (help && !help.hidden) toggleHelp(false);
      else select(null);
      return;
    }
    lastTouch = Date.now();
    if (/^[1-9]$/.test(event.key)) {
      const onPage = inOrder().filter((t) => t.closest("#tickets-open") && Number(t.dataset.page || 0) === page);
      const ticket = onPage[Number(event.key) - 1];
      if (ticket) { event.preventDefault(); select(ticket); }
      return;
    }
    const action = Object.keys(keyMap).find((name) => keyMap[name].includes(event.key));
    if (!action) return;
    event.preventDefault();
    KEY_ACTIONS[action]();
  });

  // A ticket replaced by a fresher render keeps the selection.
  function keepSelection() {
    const ticket = selectedTicket();
    if (ticket && !ticket.classList.contains("is-selected")) select(ticket, selected.line);
  }

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
  restoreAllDay();
  placeTickets();
  setInterval(() => { tick(); watchConnection(); }, 1_000);
  setInterval(release, 250);
})();
