// Forms that talk to the JSON API: checked in the reader's language, errors next to the field.
import { t, has } from "./i18n.js";
import { parseYuan } from "./format.js";
import { request, explain, ApiError } from "./api.js";

const checks = new WeakMap();

/** Add a check of the whole form: fn(form) returns [[control, message], ...]. */
export function addCheck(form, fn) {
  checks.set(form, [...(checks.get(form) || []), fn]);
}

function errorNode(control) {
  return document.getElementById(`${control.id}-error`);
}

/** Show `message` under the control (or clear it with ""), and mark it invalid for readers. */
export function showFieldError(control, message) {
  const node = errorNode(control);
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
  if (node) {
    node.textContent = message;
    node.hidden = !message;
  }
}

function showFormError(form, message) {
  const node = form.querySelector(".form-error");
  if (!node) return;
  node.textContent = message;
  node.hidden = !message;
}

function controls(form) {
  return [...form.elements].filter((c) => c.name && !c.matches(":disabled") && c.type !== "submit");
}

/** The message for a control's own constraints (required, range, length, pattern, money). */
function ownProblem(control) {
  const v = control.validity;
  const kind = control.dataset.kind;
  if (v.valueMissing) return t("form.required");
  if (v.badInput) return t("form.not_a_number");
  if (kind === "yuan" && control.value && parseYuan(control.value) === null) return t("form.money");
  if (v.rangeUnderflow) return t("form.min", { min: control.min });
  if (v.rangeOverflow) return t("form.max", { max: control.max });
  if (v.stepMismatch) return kind === "yuan" ? t("form.money") : t("form.whole");
  if (v.tooShort) return t("form.too_short", { n: control.minLength });
  if (v.tooLong) return t("form.too_long", { n: control.maxLength });
  if (v.patternMismatch || v.typeMismatch) return t("form.pattern");
  return "";
}

/** Check every control; returns the first control with a problem (for focus) or null. */
export function check(form) {
  const problems = new Map();
  for (const control of controls(form)) {
    const message = ownProblem(control);
    if (message) problems.set(control, message);
  }
  for (const fn of checks.get(form) || []) {
    for (const [control, message] of fn(form)) {
      if (!problems.has(control)) problems.set(control, message);
    }
  }
  for (const control of controls(form)) showFieldError(control, problems.get(control) || "");
  return problems.size ? problems.keys().next().value : null;
}

function value(control) {
  const kind = control.dataset.kind;
  if (kind === "bool") return control.checked;
  if (control.type === "radio" && !control.checked) return undefined;
  const raw = control.value.trim();
  if (raw === "") return undefined;
  if (kind === "yuan") return parseYuan(raw);
  if (kind === "int" || kind === "seconds") return Number(raw);
  if (kind === "time") return `${raw.length === 16 ? raw + ":00" : raw}+08:00`;
  return raw;
}

/** The form's fields as the API wants them: nested on dots, yuan as fen, Beijing times. */
export function serialize(form) {
  if (form.dataset.encoding === "form") {
    return new URLSearchParams(new FormData(form));
  }
  const body = {};
  for (const control of controls(form)) {
    const v = value(control);
    if (v === undefined) continue;
    const path = control.name.split(".");
    let target = body;
    for (const part of path.slice(0, -1)) target = target[part] ??= {};
    target[path[path.length - 1]] = v;
  }
  return body;
}

function controlFor(form, field) {
  const names = [field, `rules.${field}`, field.replace(/^body\./, "")];
  return controls(form).find((c) => names.includes(c.name)) || null;
}

function showApiError(form, error) {
  const fields = [];
  if (error instanceof ApiError) {
    if (error.problem.field) fields.push([error.problem.field, error.message]);
    for (const item of error.problem.errors || []) fields.push([item.field, item.message]);
  }
  let placed = false;
  for (const [field, detail] of fields) {
    const control = controlFor(form, field || "");
    if (!control) continue;
    const known = has(`err.${error.code}`) ? t(`err.${error.code}`) : "";
    showFieldError(control, known ? `${known} (${detail})` : detail);
    if (!placed) control.focus();
    placed = true;
  }
  showFormError(form, placed ? t("form.fix_fields") : explain(error));
}

async function afterSuccess(form, answer) {
  const done = form.dataset.done || "reload";
  if (done === "reload") {
    window.location.reload();
  } else if (done.startsWith("go:")) {
    const target = done.slice(3).replace("{id}", answer && answer.id !== undefined ? answer.id : "");
    window.location.assign(target);
  } else if (done.startsWith("signin:")) {
    const body = new URLSearchParams({
      username: form.elements.username.value,
      password: form.elements.password.value,
    });
    await request("POST", "/api/auth/token", body);
    window.location.assign(done.slice(7));
  }
}

async function submit(event) {
  const form = event.target;
  event.preventDefault();
  showFormError(form, "");
  const first = check(form);
  if (first) {
    first.focus();
    showFormError(form, t("form.fix_fields"));
    return;
  }
  if (form.dataset.confirm && !window.confirm(t(form.dataset.confirm))) return;
  const button = form.querySelector('button[type="submit"], button:not([type])');
  if (button) button.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    const answer = await request(form.dataset.api, form.dataset.action, serialize(form));
    await afterSuccess(form, answer);
  } catch (error) {
    showApiError(form, error);
  } finally {
    if (button) button.disabled = false;
    form.removeAttribute("aria-busy");
  }
}

for (const form of document.querySelectorAll("form[data-api]")) {
  form.addEventListener("submit", submit);
  // Re-checked while typing, not on blur: a message vanishing on blur would move the button
  // the reader is about to click.
  form.addEventListener("input", (event) => {
    const control = event.target;
    if (control.name && control.getAttribute("aria-invalid")) showFieldError(control, ownProblem(control));
  });
}
