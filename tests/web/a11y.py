"""A small accessibility check run in the page: names of controls and links, text contrast."""

from __future__ import annotations

from playwright.async_api import Page

# WCAG 2.1: 4.5:1 for text, 3:1 for large text (24 px, or 18.66 px bold); disabled controls
# are exempt. Backgrounds are found by walking up to the first ancestor that paints one.
_CHECK = r"""
() => {
  const problems = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)
    && getComputedStyle(el).visibility !== "hidden";
  const text = (el) => (el ? el.textContent.replace(/\s+/g, " ").trim() : "");
  const nameOf = (el) => {
    const labelled = (el.getAttribute("aria-labelledby") || "").split(/\s+/).filter(Boolean)
      .map((id) => text(document.getElementById(id))).join(" ");
    const labels = el.labels ? [...el.labels].map(text).join(" ") : "";
    const own = ["BUTTON", "A", "SUMMARY"].includes(el.tagName) ? text(el) : "";
    return (labelled || el.getAttribute("aria-label") || labels || own || el.title || "").trim();
  };
  const controls = "input:not([type=hidden]), select, textarea, button, a[href], summary";
  for (const el of document.querySelectorAll(controls)) {
    if (!visible(el)) continue;
    if (!nameOf(el)) problems.push(`no accessible name: ${el.outerHTML.slice(0, 120)}`);
  }
  if (!document.documentElement.lang) problems.push("no lang on <html>");
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one <h1>");
  const parse = (color) => {
    const m = color.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const luminance = ({ r, g, b }) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const bg = parse(getComputedStyle(node).backgroundColor);
      if (bg && bg.a > 0.5) return bg;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || seen.has(el) || !visible(el)) continue;
    seen.add(el);
    if (el.closest("button:disabled, [aria-hidden=true], .sr-only, option, script")) continue;
    const style = getComputedStyle(el);
    const fg = parse(style.color);
    if (!fg) continue;
    const bg = background(el);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)} for "${node.textContent.trim().slice(0, 30)}"`);
    }
  }
  return problems;
}
"""


async def accessibility_problems(page: Page) -> list[str]:
    problems: list[str] = await page.evaluate(_CHECK)
    return problems
