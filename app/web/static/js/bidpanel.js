// An approved bidder's panel: their standing, quick raises, a free amount confirmed in 大写,
// sequential turns (keep / withdraw), sealed bids, the priority decision and their receipts.
import { t } from "./i18n.js";
import { yuan, capital, parseYuan, yuanInput, beijing } from "./format.js";
import { request, explain, NetworkError } from "./api.js";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh Idempotency-Key (random, works outside secure contexts too). */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Retry a request whose answer was lost, with the same key: the server bids only once. */
async function withRetry(send) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof NetworkError) || attempt >= 2) throw error;
      await sleep(700 * (attempt + 1));
    }
  }
}

export class BidPanel {
  constructor(room) {
    this.room = room;
    this.lot = room.lot;
    this.number = room.number;
    this.sending = false;
    this.left = Infinity;
    this.storeKey = `receipts:${this.lot.id}:${this.number}`;
    this.receipts = JSON.parse(localStorage.getItem(this.storeKey) || "[]");
    for (const button of $("quick").querySelectorAll("button")) {
      button.addEventListener("click", () => this.bid(Number(button.dataset.amount)));
    }
    $("amount-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const fen = parseYuan($("amount").value);
      if (fen === null || fen <= 0) {
        this.message(t("form.money"), "error");
        $("amount").focus();
        return;
      }
      this.bid(fen);
    });
    $("keep").addEventListener("click", () => this.send({ action: "keep" }));
    $("withdraw").addEventListener("click", () => this.send({ action: "withdraw" }));
    $("priority-match").addEventListener("click", () => this.decide("match"));
    $("priority-decline").addEventListener("click", () => this.decide("decline"));
    $("receipt-download").addEventListener("click", () => this.download());
    this.renderReceipts();
  }

  rules() {
    return this.lot.rules;
  }

  /** The lowest amount the rules accept now (a hint: the server decides). */
  minimum() {
    const { start_price_fen: start, step_fen: step } = this.rules();
    const lot = this.lot;
    if (lot.format === "sealed") {
      if (this.room.extra.floorFen) return this.room.extra.floorFen;
      return lot.current_price_fen === null ? start : lot.current_price_fen + step;
    }
    if (lot.format === "sequential" && this.rules().raise_over === "own") {
      const own = [...this.room.ladder.values()].filter((r) => r.bidder_number === this.number).pop();
      return (own ? own.amount_fen : lot.current_price_fen ?? start) + step;
    }
    return lot.current_price_fen === null ? start : lot.current_price_fen + step;
  }

  quickAmounts() {
    const { step_fen: step, max_raise_fen: maxRaise, cap_price_fen: cap } = this.rules();
    const base = this.minimum();
    const current = this.lot.current_price_fen;
    return [1, 2, 5].map((steps) => {
      const amount = base + (steps - 1) * step;
      const tooBig = (maxRaise && current !== null && amount - current > maxRaise) || (cap && amount > cap);
      return { steps, amount, allowed: !tooBig };
    });
  }

  canBid() {
    const lot = this.lot;
    if (lot.status !== "open" || this.left <= 0) return false;
    if (lot.format === "timed") return lot.phase === "free" || lot.phase === "timed";
    if (lot.format === "sequential") return lot.phase === "turn" && lot.turn === this.number;
    return lot.phase === "sealed_round" && this.sealedRound() !== lot.round;
  }

  sealedRound() {
    return Number(localStorage.getItem(`sealed:${this.lot.id}:${this.number}`) || 0);
  }

  render() {
    const lot = this.lot;
    const leading = lot.leader === this.number && lot.format !== "sealed";
    const flag = $("standing-flag");
    if (lot.status === "closed" && lot.result) {
      const won = lot.result.winner === this.number;
      flag.textContent = won ? t("bid.won") : t("bid.not_won");
      flag.className = `flag ${won ? "lead" : "behind"}`;
      if (!this.closedSeen) this.message("");
      this.closedSeen = true;
    } else {
      flag.textContent = leading ? t("bid.leading") : lot.leader && lot.format !== "sealed" ? t("bid.not_leading") : "";
      flag.className = `flag ${leading ? "lead" : "behind"}`;
    }
    const turnLine = $("turn-line");
    turnLine.hidden = lot.format !== "sequential" || lot.phase !== "turn";
    turnLine.textContent = lot.turn === this.number ? t("bid.your_turn") : t("bid.turn_of", { bidder: lot.turn || "—" });
    turnLine.classList.toggle("mine", lot.turn === this.number);
    const can = this.canBid();
    $("bid-controls").hidden = !can;
    $("quick").hidden = lot.format === "sealed";
    $("turn-actions").hidden = !(can && lot.format === "sequential");
    const blocked = lot.format === "timed" && leading;
    for (const [index, q] of this.quickAmounts().entries()) {
      const button = $("quick").querySelectorAll("button")[index];
      button.dataset.amount = String(q.amount);
      button.textContent = `+${q.steps} · ${yuan(q.amount)}`;
      button.setAttribute("aria-label", t("bid.quick_label", { steps: q.steps, amount: yuan(q.amount) }));
      button.disabled = this.sending || blocked || !q.allowed;
    }
    $("amount-submit").disabled = this.sending || blocked;
    $("amount-submit").textContent = lot.format === "sealed" ? t("bid.submit_sealed") : t("bid.submit");
    $("amount").min = yuanInput(this.minimum());
    $("amount-hint").textContent = blocked
      ? t("bid.you_lead_wait")
      : t(lot.format === "sealed" ? "bid.sealed_hint" : "bid.min_hint", { amount: yuan(this.minimum()) });
    const priority = lot.status === "open" && lot.phase === "priority" && lot.turn === this.number;
    $("priority-controls").hidden = !priority;
    if (priority) $("priority-text").textContent = t("bid.priority_text", { price: yuan(lot.current_price_fen) });
  }

  tick(left) {
    const wasOpen = this.left > 0;
    this.left = left;
    if (wasOpen && left <= 0) this.render();
    else if (!wasOpen && left > 0) this.render();
  }

  message(text, kind = "") {
    const node = $("bid-message");
    node.textContent = text;
    node.className = `bid-message ${kind}`;
  }

  /** Ask to confirm `fen`, showing it in 大写 as a contract would; resolves true on OK. */
  confirm(fen) {
    const dialog = $("confirm-dialog");
    $("confirm-amount").textContent = yuan(fen);
    $("confirm-capital").textContent = `人民币${capital(fen)}`;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }

  async bid(fen) {
    if (this.sending || !(await this.confirm(fen))) return;
    await this.send({ amount_fen: fen });
    if (this.lot.format === "sealed") $("amount").value = "";
  }

  async send(body) {
    if (this.sending) return;
    this.sending = true;
    this.render();
    this.message(t("bid.sending"));
    const key = newKey();
    const url = `/api/lots/${this.lot.id}/bids`;
    try {
      const receipt = await withRetry(() => request("POST", url, body, { "Idempotency-Key": key }));
      this.keep(receipt);
      if (this.lot.format === "sealed" && receipt.action === "bid") {
        localStorage.setItem(`sealed:${this.lot.id}:${this.number}`, String(this.lot.round));
      }
      const sealed = this.lot.format === "sealed" ? "bid.sealed_accepted" : "bid.accepted";
      const done = { keep: "bid.kept", withdraw: "bid.withdrawn" }[receipt.action] || sealed;
      this.message(t(done, { amount: yuan(receipt.amount_fen) }), "ok");
    } catch (error) {
      this.message(this.refusal(error), "error");
      this.room.reread();
    } finally {
      this.sending = false;
      this.render();
    }
  }

  /** A refused bid in words, with the lowest amount that would do when the amount was wrong. */
  refusal(error) {
    const text = explain(error);
    const price = error.problem ? error.problem.current_price_fen : undefined;
    const aboutAmount = ["bid_too_low", "not_a_multiple_of_step"].includes(error.code);
    if (!aboutAmount || typeof price !== "number" || this.lot.format === "sealed") return text;
    return `${text} ${t("bid.min_hint", { amount: yuan(price + this.rules().step_fen) })}`;
  }

  async decide(decision) {
    if (decision === "match" && !(await this.confirm(this.lot.current_price_fen))) return;
    try {
      await request("POST", `/api/lots/${this.lot.id}/priority`, { decision });
      this.message(t(decision === "match" ? "bid.matched" : "bid.declined"), "ok");
    } catch (error) {
      this.message(explain(error), "error");
    }
    this.room.reread();
  }

  personal(frame) {
    const texts = {
      you_lead: () => t("live.you_lead"),
      outbid: () => t("live.outbid", { amount: yuan(frame.amount_fen) }),
      your_turn: () => t("live.your_turn"),
      turn_ending: () => t("live.turn_ending"),
      you_won: () => t("live.you_won"),
      lot_closed: () => t("live.lot_closed"),
    };
    const text = texts[frame.kind];
    if (!text) return;
    if (frame.kind === "outbid") this.message("");
    this.room.notify(text());
    if (["outbid", "your_turn", "turn_ending"].includes(frame.kind) && navigator.vibrate) {
      navigator.vibrate(200);
    }
  }

  keep(receipt) {
    if (!this.receipts.some((r) => r.seq === receipt.seq)) this.receipts.push(receipt);
    localStorage.setItem(this.storeKey, JSON.stringify(this.receipts));
    this.renderReceipts();
  }

  renderReceipts() {
    $("receipt-count").textContent = String(this.receipts.length);
    $("receipt-list").replaceChildren(
      ...this.receipts
        .slice()
        .reverse()
        .map((r) => {
          const li = document.createElement("li");
          const what = r.action === "bid" ? yuan(r.amount_fen) : t(`bid.action_${r.action}`);
          li.textContent = `${beijing(r.at)} · ${what} · #${r.seq} · ${r.hash.slice(0, 16)}…`;
          return li;
        }),
    );
    $("receipt-download").disabled = this.receipts.length === 0;
  }

  download() {
    const body = JSON.stringify({ lot_id: this.lot.id, bidder_number: this.number, receipts: this.receipts }, null, 1);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([body], { type: "application/json" }));
    link.download = `lot-${this.lot.id}-${this.number}-receipts.json`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }
}
