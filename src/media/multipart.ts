/**
 * multipart/form-data with a file (RFC 7578), read with a bound: the declared length and the
 * bytes read are checked against `limit` (413 beyond, before the rest is read), then the body is
 * parsed by the platform's FormData. Text fields and at most the files named are kept.
 */
import type { Context } from "koa";
import { fail } from "../http/errors.ts";

export interface MultipartForm {
  /** Text fields (the first of each name; `key[]` names as they are). */
  readonly fields: Map<string, string>;
  /** Files by field name: their bytes (an empty file input is absent). */
  readonly files: Map<string, Buffer>;
}

export const isMultipart = (ctx: Context) =>
  (ctx.get("content-type") || "").toLowerCase().startsWith("multipart/form-data");

export async function readMultipart(ctx: Context, limit: number): Promise<MultipartForm> {
  const type = ctx.get("content-type") || "";
  if (!type.toLowerCase().startsWith("multipart/form-data"))
    fail(415, "Send the file as multipart/form-data.");
  const tooLarge = () => fail(413, `The request body is larger than ${limit} bytes.`);
  if (Number(ctx.get("content-length") || 0) > limit) tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  // Not destroyed on an early exit: the rest is drained (settleBody), keeping the connection.
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > limit) tooLarge();
    chunks.push(chunk as Buffer);
  }
  let form: FormData;
  try {
    form = await new Response(new Uint8Array(Buffer.concat(chunks)), {
      headers: { "content-type": type },
    }).formData();
  } catch {
    fail(400, "The multipart body could not be read.");
  }
  const fields = new Map<string, string>();
  const files = new Map<string, Buffer>();
  for (const [name, value] of form.entries()) {
    if (typeof value === "string") {
      if (!fields.has(name)) fields.set(name, value);
    } else if (value.size > 0 && !files.has(name)) files.set(name, Buffer.from(await value.arrayBuffer()));
  }
  return { fields, files };
}
