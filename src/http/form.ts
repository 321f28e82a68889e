/** `application/x-www-form-urlencoded` bodies, with a size limit (413 beyond). */
import type { Context } from "koa";
import { fail } from "./errors.ts";

export async function formBody(ctx: Context, limit = 16_384): Promise<URLSearchParams> {
  let text = "";
  // Not destroyed on an early exit: the rest is drained (settleBody), keeping the connection.
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    text += chunk;
    if (text.length > limit) fail(413, "The form is too large.");
  }
  return new URLSearchParams(text);
}
