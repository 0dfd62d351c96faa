// Calls to the service's JSON API from a signed-in page: CSRF header, problem+json errors.
import { t, has } from "./i18n.js";
import { yuan } from "./format.js";

/** A refusal from the API: RFC 9457 problem details with a stable `code`. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "http_error";
    this.problem = problem;
  }
}

/** The network failed (no answer at all): the request may be retried. */
export class NetworkError extends Error {}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/** Send a request; resolves with the JSON answer, rejects with ApiError or NetworkError. */
export async function request(method, url, body, headers = {}) {
  const all = { Accept: "application/json, application/problem+json", ...headers };
  if (method !== "GET" && csrfToken()) all["X-CSRF-Token"] = csrfToken();
  let payload;
  if (body instanceof URLSearchParams) {
    payload = body;
  } else if (body !== undefined) {
    all["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, { method, headers: all, body: payload, credentials: "same-origin" });
  } catch (error) {
    throw new NetworkError(String(error));
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : { detail: await response.text() };
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** A refusal in words for the reader, with the standing it was judged against when known. */
export function explain(error) {
  if (error instanceof NetworkError) return t("err.network");
  if (!(error instanceof ApiError)) return t("err.unexpected");
  const key = `err.${error.code}`;
  let text = has(key) ? t(key) : error.message;
  const price = error.problem.current_price_fen;
  if (price !== undefined && price !== null) text += " " + t("err.standing", { price: yuan(price) });
  if (error.problem.retry_after) text += " " + t("err.retry_after", { s: error.problem.retry_after });
  return text;
}
