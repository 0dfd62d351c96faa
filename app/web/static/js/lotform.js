// The lot editor: shows the parameters of the chosen format, hints in words, cross-field checks.
import { t } from "./i18n.js";
import { capital, parseYuan } from "./format.js";
import { addCheck } from "./forms.js";

const form = document.getElementById("lot-form");
const MU_M2 = 666.67;

function chosenFormat() {
  const checked = form.querySelector('input[name="format"]:checked');
  return checked ? checked.value : "timed";
}

/** Enable the fieldsets of the chosen format; a disabled fieldset is neither checked nor sent. */
function showFormat() {
  const format = chosenFormat();
  for (const group of form.querySelectorAll("fieldset[data-formats]")) {
    const on = group.dataset.formats.split(" ").includes(format);
    group.disabled = !on;
    group.hidden = !on;
  }
}

function durationText(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const parts = [];
  if (h) parts.push(t("unit.h", { n: h }));
  if (m) parts.push(t("unit.min", { n: m }));
  if (s || !parts.length) parts.push(t("unit.s", { n: s }));
  return parts.join(" ");
}

/** The hint after an input: 大写 for money, minutes and hours for seconds, mu for area. */
function hintFor(control) {
  const raw = control.value.trim();
  if (!raw) return "";
  const kind = control.dataset.kind;
  if (kind === "yuan") {
    const fen = parseYuan(raw);
    return fen === null ? "" : `= ${capital(fen)}`;
  }
  if (kind === "seconds" && /^\d+$/.test(raw)) return `= ${durationText(Number(raw))}`;
  if (control.name === "area_m2" && /^\d+$/.test(raw)) {
    return `≈ ${t("unit.mu", { n: (Number(raw) / MU_M2).toFixed(1) })}`;
  }
  return "";
}

function refreshHint(control) {
  const node = form.querySelector(`[data-hint-for="${control.id}"]`);
  if (node) node.textContent = hintFor(control);
}

function field(name) {
  return [...form.elements].find((c) => c.name === name && !c.matches(":disabled")) || null;
}

function money(name) {
  const control = field(name);
  return control && control.value.trim() ? parseYuan(control.value) : null;
}

addCheck(form, () => {
  const problems = [];
  const start = money("rules.start_price_fen");
  const step = money("rules.step_fen");
  const cap = money("rules.cap_price_fen");
  const maxRaise = money("rules.max_raise_fen");
  if (cap !== null && start !== null && cap <= start) {
    problems.push([field("rules.cap_price_fen"), t("form.cap_above_start")]);
  }
  if (maxRaise !== null && step !== null && maxRaise < step) {
    problems.push([field("rules.max_raise_fen"), t("form.max_raise_at_least_step")]);
  }
  const hardEnd = field("rules.hard_end_at");
  if (hardEnd && hardEnd.value && Date.parse(`${hardEnd.value}:00+08:00`) <= Date.now()) {
    problems.push([hardEnd, t("form.in_future")]);
  }
  return problems;
});

for (const radio of form.querySelectorAll('input[name="format"]')) {
  radio.addEventListener("change", showFormat);
}
for (const control of form.querySelectorAll("input[data-kind], input[name=area_m2]")) {
  control.addEventListener("input", () => refreshHint(control));
  refreshHint(control);
}
showFormat();
