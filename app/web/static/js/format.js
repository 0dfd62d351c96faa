// Money and time as the pages show them: ¥ with separators, 大写金额, Beijing time, countdowns.
const DIGITS = "零壹贰叁肆伍陆柒捌玖";
const PLACES = ["", "拾", "佰", "仟"];
const SECTIONS = ["", "万", "亿", "万亿"];
const BEIJING_MS = 8 * 3600 * 1000;

/** 30500000 fen -> "¥305,000"; cents only when there are any. */
export function yuan(fen) {
  if (fen === null || fen === undefined) return "—";
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  const whole = Math.floor(abs / 100);
  const cents = abs % 100;
  const text = `${sign}¥${whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",")}`;
  return cents ? `${text}.${String(cents).padStart(2, "0")}` : text;
}

function fourDigits(group) {
  let text = "";
  let zeroPending = false;
  for (let place = 3; place >= 0; place--) {
    const digit = Math.floor(group / 10 ** place) % 10;
    if (digit === 0) {
      zeroPending = text !== "";
      continue;
    }
    if (zeroPending) {
      text += "零";
      zeroPending = false;
    }
    text += DIGITS[digit] + PLACES[place];
  }
  return text;
}

function yuanPart(amount) {
  const groups = [];
  while (amount > 0) {
    groups.push(amount % 10000);
    amount = Math.floor(amount / 10000);
  }
  let text = "";
  let gap = false;
  for (let i = groups.length - 1; i >= 0; i--) {
    if (groups[i] === 0) {
      gap = text !== "";
      continue;
    }
    if (text && (gap || groups[i] < 1000)) text += "零";
    text += fourDigits(groups[i]) + SECTIONS[i];
    gap = false;
  }
  return text;
}

/** The amount in Chinese capital numerals, as contracts write it: 叁拾万伍仟元整. */
export function capital(fen) {
  if (!Number.isSafeInteger(fen) || fen < 0) return "";
  if (fen === 0) return "零元整";
  const whole = Math.floor(fen / 100);
  const jiao = Math.floor((fen % 100) / 10);
  const fenDigit = fen % 10;
  let text = yuanPart(whole);
  if (whole) text += "元";
  if (jiao) text += DIGITS[jiao] + "角";
  else if (fenDigit && whole) text += "零";
  return fenDigit ? text + DIGITS[fenDigit] + "分" : text + "整";
}

/** Yuan typed by a person ("305000", "1,680.32") as whole fen, or null if it is not money. */
export function parseYuan(text) {
  const clean = String(text).replace(/[,，\s¥]/g, "");
  if (!/^\d+(\.\d{1,2})?$/.test(clean)) return null;
  const [whole, part = ""] = clean.split(".");
  const fen = Number(whole) * 100 + Number(part.padEnd(2, "0"));
  return Number.isSafeInteger(fen) ? fen : null;
}

/** Fen as the value of a yuan input: "305000" or "1680.32". */
export function yuanInput(fen) {
  const whole = Math.floor(fen / 100);
  const cents = fen % 100;
  return cents ? `${whole}.${String(cents).padStart(2, "0")}` : String(whole);
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** An ISO UTC time as "2026-11-25 23:49:11" in Beijing time (UTC+8 all year). */
export function beijing(iso) {
  if (!iso) return "—";
  const d = new Date(Date.parse(iso) + BEIJING_MS);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

/** "11-25 23:49:11": the ladder's time, short enough for a phone's column. */
export function beijingShort(iso) {
  return iso ? beijing(iso).slice(5) : "—";
}

/** Milliseconds left as "04:59" or "1:02:03"; never negative. */
export function clock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}
