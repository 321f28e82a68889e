/**
 * Parameters of a client-API request as Mastodon (Rails) reads them: the query string, then the
 * body — JSON, a urlencoded form or multipart/form-data (text fields only here) — with a size
 * bound (413) and JSON depth bound. `key[]` fields become lists.
 */
import type { Context } from "koa";
import { fail } from "../http/errors.ts";
import { parseBoundedJson } from "../http/json.ts";

export type Params = Record<string, unknown>;

function fromEntries(entries: Iterable<[string, unknown]>, into: Params): Params {
  for (const [rawKey, value] of entries) {
    if (rawKey.endsWith("[]")) {
      const key = rawKey.slice(0, -2);
      const list = Array.isArray(into[key]) ? (into[key] as unknown[]) : [];
      list.push(value);
      into[key] = list;
    } else into[rawKey] = value;
  }
  return into;
}

async function rawBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get("content-length") || 0);
  if (declared > limit) fail(413, `The request body is larger than ${limit} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > limit) fail(413, `The request body is larger than ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function apiParams(ctx: Context, limit: number): Promise<Params> {
  const params = fromEntries(new URLSearchParams(ctx.querystring).entries(), {});
  if (ctx.method === "GET" || ctx.method === "HEAD") return params;
  const body = await rawBody(ctx, limit);
  if (body.length === 0) return params;
  const type = (ctx.get("content-type") || "").toLowerCase();
  if (type.startsWith("application/json")) {
    const parsed = parseBoundedJson(body.toString("utf8"));
    if (!parsed.ok) fail(400, parsed.message);
    if (typeof parsed.value !== "object" || parsed.value === null || Array.isArray(parsed.value))
      fail(400, "The JSON body must be an object.");
    return { ...params, ...(parsed.value as Params) };
  }
  if (type.startsWith("application/x-www-form-urlencoded"))
    return fromEntries(new URLSearchParams(body.toString("utf8")).entries(), params);
  if (type.startsWith("multipart/form-data")) {
    let form: FormData;
    try {
      form = await new Response(new Uint8Array(body), { headers: { "content-type": type } }).formData();
    } catch {
      fail(400, "The multipart body could not be read.");
    }
    const fields: [string, unknown][] = [];
    for (const [k, v] of form.entries()) if (typeof v === "string") fields.push([k, v]);
    return fromEntries(fields, params);
  }
  fail(415, "Send JSON, a urlencoded form or multipart/form-data.");
}

/** A parameter as a string, if it is one (numbers and booleans from JSON are spelled out). */
export function str(params: Params, key: string): string | undefined {
  const v = params[key];
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

/** A parameter as a list of strings (`key[]` fields, a JSON array, or one value). */
export function list(params: Params, key: string): string[] {
  const v = params[key];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string");
  const one = str(params, key);
  return one === undefined || one === "" ? [] : [one];
}

/** A boolean as Rails reads one: true, "true", "1", "on". */
export function bool(params: Params, key: string): boolean {
  const v = params[key];
  return v === true || v === "true" || v === "1" || v === "on";
}
