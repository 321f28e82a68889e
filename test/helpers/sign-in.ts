/**
 * Signing a person in as the tests do: a one-time link (`herald login-link`), spent by a POST,
 * gives the session cookie; the session's CSRF token is read from the store.
 */
import assert from "node:assert/strict";
import type { TestServer } from "./server.ts";

export interface SignedIn {
  /** `name=value`, for a Cookie header. */
  readonly cookie: string;
  /** The cookie's name and value, for a browser context. */
  readonly name: string;
  readonly value: string;
  readonly csrf: string;
}

export async function signInByLink(s: TestServer, personId: string): Promise<SignedIn> {
  const link = await s.services.sessions.createLoginLink(personId, "test");
  const res = await fetch(`${s.url}/login/link/${link.token}`, { method: "POST", redirect: "manual" });
  const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
  const [name, value] = cookie.split("=");
  const auth = await s.services.sessions.resolve(value ?? "");
  assert.ok(auth, "the new session resolves");
  return { cookie, name, value, csrf: auth.csrf };
}
