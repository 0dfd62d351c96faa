// The bidding room: the lot's live standing, countdown on the server's clock, and the ladder.
import { t } from "./i18n.js";
import { yuan, beijing, beijingShort, clock as clockText } from "./format.js";
import { request } from "./api.js";
import { LiveConnection, ServerClock } from "./live.js";
import { BidPanel } from "./bidpanel.js";

const $ = (id) => document.getElementById(id);
const data = JSON.parse($("room-data").textContent);
const lot = data.lot;
const serverClock = new ServerClock();
serverClock.update(lot.server_time);
const ladder = new Map(data.ladder.map((row) => [row.seq, row]));
const extra = { pausedReason: null, cancelReason: null, floorFen: null };
const LADDER_ROWS = 300;
// Events whose whole effect the snapshot states better than a reducer could (turn orders,
// withdrawn raises, resumed deadlines...): after them the room re-reads the snapshot.
const REREAD_AFTER = new Set([
  "lot_opened", "round_started", "round_ended", "raise_withdrawn", "turn_ended",
  "bidding_ended", "priority_decided", "priority_window_expired", "lot_resumed",
  "lot_closed", "lot_cancelled",
]);
let stateSeq = lot.seq;
let rereadTimer = null;

const room = {
  lot,
  extra,
  clock: serverClock,
  ladder,
  number: data.mine && data.mine.status === "approved" ? data.mine.bidder_number : null,
  reread: () => scheduleReread(0),
  notify,
};
const panel = room.number ? new BidPanel(room) : null;

/** Fold one public event into the standing; returns nothing, re-renders later. */
function applyEvent(seq, event) {
  if (event.type === "bid_placed" && !event.hidden && event.bidder) {
    ladder.set(seq, { seq, bidder_number: event.bidder, amount_fen: event.amount_fen, at: event.at });
  }
  if (event.type === "raise_withdrawn" && event.bidder) markWithdrawn(event.bidder);
  if (seq <= stateSeq) return; // a snapshot read since already holds it
  stateSeq = seq;
  lot.seq = seq;
  switch (event.type) {
    case "bid_placed":
      if (event.hidden) break;
      lot.current_price_fen = event.amount_fen;
      lot.leader = event.bidder;
      lot.bid_count += 1;
      if (event.round !== undefined) lot.round = event.round;
      if (event.deadline) lot.deadline = event.deadline;
      break;
    case "lot_opened":
      Object.assign(lot, { status: "open", phase: event.phase, deadline: event.deadline });
      if (event.round !== undefined) lot.round = event.round;
      break;
    case "timed_period_started":
      Object.assign(lot, { phase: "timed", round: event.round, deadline: event.deadline });
      break;
    case "turn_started":
      Object.assign(lot, { phase: "turn", turn: event.bidder, round: event.round, deadline: event.deadline });
      break;
    case "round_started":
      lot.round = event.round;
      if (event.deadline) lot.deadline = event.deadline;
      if (event.floor_fen) extra.floorFen = event.floor_fen;
      break;
    case "priority_window_opened":
      Object.assign(lot, { phase: "priority", turn: event.holder, deadline: event.deadline });
      lot.current_price_fen = event.price_fen;
      break;
    case "lot_paused":
      lot.status = "paused";
      extra.pausedReason = event.reason;
      break;
    case "lot_resumed":
      lot.status = "open";
      extra.pausedReason = null;
      if (event.deadline) lot.deadline = event.deadline;
      break;
    case "bidding_ended":
      lot.phase = "ended";
      break;
    case "lot_closed":
      Object.assign(lot, { status: "closed", phase: "none", deadline: null, turn: null, result: event.result });
      break;
    case "lot_cancelled":
      Object.assign(lot, { status: "cancelled", phase: "none", deadline: null, turn: null });
      extra.cancelReason = event.reason;
      break;
    default:
      break;
  }
  if (event.type === "lot_opened" && data.mine && data.mine.status === "pending") {
    window.location.reload(); // the bidder may have been approved meanwhile
  }
  if (REREAD_AFTER.has(event.type)) scheduleReread(300);
  if (event.type === "lot_closed" && lot.format === "sealed") reloadLadder();
}

/** A sequential raise taken back: its row stays on the ladder, struck through. */
function markWithdrawn(bidder) {
  const rows = [...ladder.values()].filter((row) => row.bidder_number === bidder && !row.withdrawn);
  if (rows.length) rows.sort((a, b) => b.seq - a.seq)[0].withdrawn = true;
}

function takeSnapshot(snapshot) {
  if (snapshot.server_time) serverClock.update(snapshot.server_time);
  lot.watchers = snapshot.watchers;
  if (snapshot.seq < stateSeq) return; // events newer than this read are already in
  const { type, ...fields } = snapshot;
  Object.assign(lot, fields);
  stateSeq = snapshot.seq;
}

function scheduleReread(delay) {
  clearTimeout(rereadTimer);
  rereadTimer = setTimeout(async () => {
    try {
      takeSnapshot(await request("GET", `/api/lots/${lot.id}`));
      render();
    } catch {
      /* the next event or reconnect reads it again */
    }
  }, delay);
}

async function reloadLadder() {
  try {
    for (const row of await request("GET", `/api/lots/${lot.id}/bids`)) ladder.set(row.seq, row);
    renderLadder();
  } catch {
    /* shown again on the next read */
  }
}

function badge(status) {
  const span = document.createElement("span");
  span.className = `badge status-${status}`;
  span.textContent = t(`status.${status}`);
  return span;
}

function priceText() {
  if (lot.status === "closed" && lot.result) {
    return lot.result.outcome === "sold" ? yuan(lot.result.price_fen) : t("live.unsold_short");
  }
  if (lot.format === "sealed" && lot.current_price_fen === null && lot.status === "open") {
    return t("live.sealed_price");
  }
  return yuan(lot.current_price_fen ?? lot.rules.start_price_fen);
}

function priceLabel() {
  if (lot.status === "closed") return t("live.final_price");
  if (lot.phase === "priority") return t("live.priority_price");
  if (lot.format === "sealed") {
    return lot.current_price_fen === null ? t("live.highest_bid") : t("live.revealed_price");
  }
  return lot.current_price_fen === null ? t("live.start_price") : t("live.current_price");
}

function noticeText() {
  if (lot.status === "paused") {
    return extra.pausedReason ? t("live.paused_because", { reason: extra.pausedReason }) : t("live.paused");
  }
  if (lot.status === "cancelled") {
    return extra.cancelReason ? t("live.cancelled_because", { reason: extra.cancelReason }) : t("live.cancelled");
  }
  if (lot.status === "closed" && lot.result) {
    const r = lot.result;
    if (r.outcome === "sold") return t("live.sold", { winner: r.winner, price: yuan(r.price_fen) });
    return t("live.unsold", { reason: t(`reason.${r.reason}`) });
  }
  if (lot.status === "registration") {
    return lot.starts_at ? t("live.opens_at", { at: beijing(lot.starts_at) }) : t("live.not_open_yet");
  }
  if (lot.phase === "ended") return t("live.waiting_result");
  if (lot.phase === "turn" && lot.turn) return t("live.turn_of", { bidder: lot.turn });
  if (lot.phase === "priority" && lot.turn) return t("live.priority_of", { bidder: lot.turn });
  return "";
}

let flashUntil = 0;

/** A passing message (you are outbid, your turn...) in the room's status line for 6 s. */
function notify(text) {
  const node = $("notice");
  node.textContent = text;
  node.classList.add("flash");
  flashUntil = Date.now() + 6000;
  setTimeout(render, 6100);
}

function renderLadder() {
  const body = $("ladder");
  // Sealed bids are opened together: highest first (earlier wins a tie). Else newest first.
  const order = lot.format === "sealed"
    ? (a, b) => b.amount_fen - a.amount_fen || a.seq - b.seq
    : (a, b) => b.seq - a.seq;
  const rows = [...ladder.values()].sort(order).slice(0, LADDER_ROWS);
  body.replaceChildren(
    ...rows.map((row, index) => {
      const tr = document.createElement("tr");
      if (index === 0) tr.classList.add("top");
      if (room.number && row.bidder_number === room.number) tr.classList.add("mine");
      if (row.withdrawn) tr.classList.add("withdrawn");
      const amount = row.withdrawn ? `${yuan(row.amount_fen)} ${t("live.withdrawn")}` : yuan(row.amount_fen);
      for (const [text, cls] of [[row.bidder_number, ""], [amount, "num"], [beijingShort(row.at), ""]]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    }),
  );
  $("ladder-empty").hidden = ladder.size > 0;
  body.closest("table").hidden = ladder.size === 0;
}

function render() {
  $("status").replaceChildren(badge(lot.status));
  $("price-label").textContent = priceLabel();
  $("price").textContent = priceText();
  const closed = lot.status === "closed";
  const winner = closed && lot.result ? lot.result.winner : null;
  $("leader").textContent = (closed ? winner : lot.leader) || "—";
  $("leader-label").textContent = closed ? t("live.winner") : t("live.leader");
  $("leader-line").hidden = closed ? !winner : !lot.leader || lot.format === "sealed";
  $("timing").hidden = !["open", "paused"].includes(lot.status);
  $("deadline").parentElement.hidden = lot.status === "paused"; // it moves when bidding resumes
  $("round").textContent = lot.round || "—";  // no round yet: free bidding
  $("phase").textContent = t(`phase.${lot.phase || "none"}`);
  $("bid-count").textContent = Math.max(lot.bid_count, ladder.size);
  $("watchers").textContent = lot.watchers;
  $("deadline").textContent = beijing(lot.deadline);
  if (Date.now() >= flashUntil) {
    $("notice").classList.remove("flash");
    $("notice").textContent = noticeText();
  }
  renderLadder();
  if (panel) panel.render();
  tick();
}

function tick() {
  const node = $("countdown");
  if (lot.status !== "open" || !lot.deadline) {
    node.textContent = lot.status === "paused" ? t("live.paused_short") : "—";
    node.dataset.remainingMs = "";
    node.classList.remove("urgent");
    return;
  }
  const left = Date.parse(lot.deadline) - serverClock.now();
  node.textContent = clockText(left);
  node.dataset.remainingMs = String(Math.round(left));
  node.classList.toggle("urgent", left < 60000);
  if (panel) panel.tick(left);
}

let everLive = false;

function showConnection(state, detail) {
  const node = $("connection");
  node.dataset.state = state;
  const text = {
    connecting: t("live.connecting"),
    live: t("live.live"),
    reconnecting: t("live.reconnecting", { n: detail.attempts || 1 }),
    gone: t("live.gone"),
  }[state];
  $("connection-text").textContent = text;
  if (state === "live") {
    if (!everLive) lot.watchers += 1; // this room, until the re-read below says it exactly
    everLive = true;
    scheduleReread(300);
    render();
  }
}

function receive(frame) {
  if (frame.type === "event") applyEvent(frame.seq, frame.event);
  else if (frame.type === "snapshot") {
    takeSnapshot(frame);
    reloadLadder();
  } else if (frame.type === "heartbeat" && typeof frame.watchers === "number") {
    lot.watchers = frame.watchers;
  } else if (frame.type === "personal" && panel) panel.personal(frame);
  render();
}

render();
setInterval(tick, 250);
new LiveConnection(lot.id, {
  after: lot.seq,
  clock: serverClock,
  onFrame: receive,
  onStatus: showConnection,
}).start();
