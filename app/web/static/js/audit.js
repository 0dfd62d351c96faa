// The auditors' desk: the latest signed checkpoint, a lot's events, and verify at a click.
import { t, has } from "./i18n.js";
import { yuan, beijing } from "./format.js";
import { request, explain } from "./api.js";

const $ = (id) => document.getElementById(id);
const PAGE = 500;

async function showCheckpoint() {
  if (!$("checkpoint")) return;
  try {
    const [checkpoint, key] = await Promise.all([
      request("GET", "/api/audit/checkpoint"),
      request("GET", "/.well-known/auction-log-key"),
    ]);
    $("cp-size").textContent = t("audit.events_count", { n: checkpoint.size });
    $("cp-at").textContent = beijing(checkpoint.at);
    $("cp-hash").textContent = checkpoint.hash;
    $("cp-key").textContent = key.public_key;
    $("cp-key-cmd").textContent = key.public_key;
    $("cp-note").textContent = checkpoint.note;
  } catch (error) {
    $("cp-size").textContent = explain(error);
  }
  $("checkpoint").dataset.loaded = "true";
}

async function verify(button) {
  const node = $(`verdict-${button.dataset.lot}`);
  button.disabled = true;
  node.className = "verdict";
  node.textContent = t("audit.verifying");
  try {
    const verdict = await request("GET", `/audit/lots/${button.dataset.lot}/verify`);
    node.classList.add(verdict.valid ? "valid" : "invalid");
    node.textContent = verdict.valid
      ? t("audit.valid", { n: verdict.events, size: verdict.checkpoint_size })
      : t("audit.invalid", { detail: verdict.summary });
    node.title = verdict.summary;
  } catch (error) {
    node.classList.add("invalid");
    node.textContent = explain(error);
  } finally {
    button.disabled = false;
  }
}

function cell(text, cls = "") {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function eventName(type) {
  return has(`ev.${type}`) ? t(`ev.${type}`) : type;
}

function amountOf(event) {
  const data = event.data || {};
  const fen = data.amount_fen ?? data.price_fen ?? data.initial_bid_fen ?? data.highest_fen;
  if (fen !== undefined && fen !== null) return yuan(fen);
  if (data.result && data.result.price_fen) return yuan(data.result.price_fen);
  return "";
}

function row(event) {
  const tr = document.createElement("tr");
  const bidder = event.bidder_number ? `${event.bidder_number}${event.bidder_name ? ` · ${event.bidder_name}` : ""}` : "";
  const type = cell(eventName(event.type));
  type.title = event.type;
  tr.append(
    cell(String(event.lot_seq)),
    cell(beijing(event.at)),
    type,
    cell(event.actor_name || event.actor),
    cell(bidder),
    cell(amountOf(event), "num"),
    cell(`${event.hash.slice(0, 12)}…`, "hash"),
  );
  tr.lastChild.title = event.hash;
  return tr;
}

async function showEvents(table, cursor = 0) {
  const body = table.tBodies[0];
  const more = $("more-events");
  try {
    const page = await request("GET", `/api/audit/events?lot_id=${table.dataset.lot}&limit=${PAGE}&cursor=${cursor}`);
    if (cursor === 0) body.replaceChildren();
    body.append(...page.items.map(row));
    more.hidden = page.next_cursor === null;
    more.onclick = () => showEvents(table, page.next_cursor);
    table.dataset.loaded = "true";
  } catch (error) {
    body.replaceChildren();
    const tr = document.createElement("tr");
    const td = cell(explain(error));
    td.colSpan = 7;
    tr.append(td);
    body.append(tr);
  }
}

for (const button of document.querySelectorAll("button.verify")) {
  button.addEventListener("click", () => verify(button));
}
showCheckpoint();
if ($("events")) showEvents($("events"));
