/**
 * Two people for pages that answer "current" and "former": Rita Recruiter (current) and Oscar
 * Outgoing, hired (his account made, keys ready), then deactivated through SCIM.
 */
import { waitFor } from "./env.ts";
import type { TestServer } from "./server.ts";

const who = { name: "test" };

export async function currentAndFormer(s: TestServer): Promise<{ rita: string; oscar: string }> {
  const people = [
    ["rita", "Rita Recruiter", "Recruiter"],
    ["oscar", "Oscar Outgoing", "Talent Partner"],
  ] as const;
  const [rita, oscar] = await Promise.all(
    people.map(async ([user, displayName, title]) =>
      String(
        (await s.services.scim.createUser({ userName: `${user}@corp.example`, displayName, title }, who)).id,
      ),
    ),
  );
  for (const [handle] of people)
    await waitFor(async () => (await s.services.accounts.byHandle(handle))?.keysReadyAt ?? undefined, {
      timeoutMs: 30_000,
      what: `${handle}'s account keys`,
    });
  await s.services.scim.patchUser(oscar, [{ op: "replace", path: undefined, value: { active: false } }], who);
  return { rita, oscar };
}
