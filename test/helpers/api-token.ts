/** A client API token for a person acting as an account, issued as `herald app-token create` does. */
import assert from "node:assert/strict";
import type { RunningServer } from "../../src/server.ts";

export async function apiToken(
  s: RunningServer,
  personId: string,
  accountId: string,
  { app = "Test app", scopes = ["read", "write", "follow"] }: { app?: string; scopes?: string[] } = {},
): Promise<string> {
  const registered = await s.services.oauth.registerApp({
    name: app,
    redirectUris: ["urn:ietf:wg:oauth:2.0:oob"],
    scopes: scopes.join(" "),
    website: null,
    by: "cli:test",
  });
  assert.ok(registered.ok);
  const issued = await s.services.oauth.issueToken({
    appId: registered.app.id,
    personId,
    accountId,
    scopes,
    by: "cli:test",
  });
  return issued.token;
}
