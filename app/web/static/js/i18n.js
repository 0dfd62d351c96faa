// The page's dictionary (embedded by the server for the reader's language) and t().
const node = document.getElementById("messages");
const messages = node ? JSON.parse(node.textContent) : {};

/** The text of `key` with `{name}` placeholders filled in; ⟦key⟧ when it is missing. */
export function t(key, params = {}) {
  const text = messages[key];
  if (text === undefined) return `⟦${key}⟧`;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Whether `key` has a translation. */
export function has(key) {
  return key in messages;
}
