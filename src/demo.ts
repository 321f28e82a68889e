/**
 * What the demo organization does with its directory (src/identity/demo.ts seeds the people and
 * groups): the shared account @recruiting and who may act for it, an org admin and a compliance
 * officer, posts with hashtags — one published through an approved draft — and a draft waiting
 * for approval. Everything goes through the services (accounts, Casbin grants, posting, drafts),
 * the paths the CLI and the staff app take, so the audit log and the archive tell the same story.
 *
 * Who is who (the development IdP derives its labels from these grants, not from this list):
 *   Jane Doe     owner of @recruiting (approves drafts), publisher through the Recruiting group
 *   Sam Lee      publisher of @recruiting through the Recruiting group
 *   Priya        drafter of @recruiting through the PR group (her posts wait for approval)
 *   Alex Kim     organization admin
 *   Morgan Reyes compliance officer (reads archives and the audit log)
 *   Chris Park   former employee (verifies as former)
 *
 * Runs in the background after the server listens (a shared account's keys take a moment, a
 * person's own post waits for the key worker), once: the audit record `demo.presence.seed` marks
 * it done, so a restart — or an operator who revoked a demo grant — is left alone.
 */
import { type AuditEvent, listAudit, recordAudit } from "./db/audit.ts";
import { ORG } from "./authz/authz.ts";
import type { ActorRow } from "./federation/entities.ts";
import type { Person } from "./identity/directory.ts";
import { logger } from "./logging.ts";
import type { Services } from "./services.ts";

const log = logger("demo");

/** The audit actor of everything the demo seed does. */
export const DEMO_OPERATOR = "system:demo";
const DONE = "demo.presence.seed";

type Deps = Pick<Services, "db" | "config" | "directory" | "accounts" | "authz" | "posting" | "drafts">;

/** Grants as `herald grant` would make them: subject, role, account ("org" or a handle). */
const GRANTS: readonly (readonly [subject: string, role: string, account: string])[] = [
  ["user:jane@demo.example", "owner", "recruiting"],
  ["group:Recruiting", "publisher", "recruiting"],
  ["group:PR", "drafter", "recruiting"],
  ["user:alex@demo.example", "org-admin", ORG],
  ["user:morgan@demo.example", "compliance-officer", ORG],
];

export async function demoPresenceSeeded(db: Deps["db"]): Promise<AuditEvent | undefined> {
  return (await db.run((em) => listAudit(em, { action: DONE, limit: 1 })))[0];
}

/**
 * Seeds the demo's accounts, grants, posts and drafts unless it was done before. Returns true
 * when it seeded. `signal` stops the wait for a person's keys (shutdown).
 */
export async function seedDemoPresence(
  deps: Deps,
  { signal, keysTimeoutMs = 120_000 }: { signal?: AbortSignal; keysTimeoutMs?: number } = {},
): Promise<boolean> {
  const { db, config, directory, accounts, authz, posting, drafts } = deps;
  if (await demoPresenceSeeded(db)) return false;
  const person = async (userName: string): Promise<Person> => {
    const p = await directory.personByUserName(userName);
    if (!p) throw new Error(`demo seed: no ${userName} in the directory`);
    return p;
  };

  let recruiting = await accounts.byHandle("recruiting");
  if (!recruiting) {
    const made = await accounts.createShared("recruiting", `Recruiting at ${config.orgName}`, DEMO_OPERATOR);
    if (!made.ok) throw new Error(`demo seed: ${made.message}`);
    recruiting = made.actor;
  }
  for (const [subjectText, role, accountRef] of GRANTS) {
    const subject = await authz.resolveSubject(subjectText);
    if ("error" in subject) throw new Error(`demo seed: ${subject.error}`);
    const r = await authz.grant(subject, role, accountRef === ORG ? ORG : recruiting, DEMO_OPERATOR);
    if (!r.ok) throw new Error(`demo seed: ${r.message}`);
  }

  const [jane, sam, priya] = await Promise.all(
    ["jane@demo.example", "sam.lee@demo.example", "priya@demo.example"].map(person),
  );
  // Each post as its author would make it: allowed by Casbin, the rule recorded.
  const post = async (author: Person, account: ActorRow, text: string) => {
    const d = await authz.decide(author, "post", account);
    if (!d.allow)
      throw new Error(`demo seed: ${author.userName} may not post as @${account.handle}: ${d.rule}`);
    const r = await posting.post({
      actorId: account.id,
      text,
      author: { personId: author.id, label: author.displayName ?? author.userName },
      audit: { decision: d.rule, via: "demo" },
    });
    if (!r.ok) throw new Error(`demo seed: ${r.message}`);
  };
  const propose = async (author: Person, text: string) => {
    const r = await drafts.propose(author, recruiting, { text, visibility: "public" }, { via: "demo" });
    if (!r.ok) throw new Error(`demo seed: ${r.message}`);
    return r.draft;
  };

  // Crash-safe enough for a demo: a restart after an interrupted seed does not write them twice.
  if ((await drafts.byAuthor(priya.id)).length > 0) return markDone(deps, recruiting);
  await post(
    sam,
    recruiting,
    "We're hiring a Senior Backend Engineer in Lisbon or remote in Europe. Apply on our careers page — and if a recruiter contacts you, check them on our verification page first. #hiring #engineering",
  );
  // Priya writes for @recruiting as a drafter: this one Jane approved, the next one waits.
  const approved = await propose(
    priya,
    "Demo Corp's open day is on Friday: meet the Talent team and see where you would work. #careers #openday",
  );
  const decided = await drafts.decide(approved.id, jane, "approve", "Looks good.", { via: "demo" });
  if (!decided.ok) throw new Error(`demo seed: ${decided.message}`);
  await propose(
    priya,
    "Our 2027 internship programme opens next month: students in engineering, design and sales, watch this space. #internships #careers",
  );

  // Jane's own account: its keys come from the background key worker.
  const until = Date.now() + keysTimeoutMs;
  let own = await accounts.byPerson(jane.id);
  while (!own?.keysReadyAt) {
    if (signal?.aborted) return false;
    if (Date.now() > until) throw new Error("demo seed: Jane's account got no keys in time");
    await new Promise((r) => setTimeout(r, 200));
    own = await accounts.byPerson(jane.id);
  }
  await post(
    jane,
    own,
    `I recruit for ${config.orgName}. Not sure a message is really from us? Every one of us is listed on our verification page, and @recruiting is our only recruiting account. #recruiting #careers`,
  );

  return markDone(deps, recruiting);
}

async function markDone({ db }: Deps, recruiting: ActorRow): Promise<true> {
  await db.transaction((em) =>
    recordAudit(em, {
      actor: DEMO_OPERATOR,
      action: DONE,
      targetType: "actor",
      targetId: recruiting.id,
      detail: { grants: GRANTS.map((g) => g.join(" ")) },
    }),
  );
  log.info("Seeded the demo's @recruiting, its grants, posts and a draft waiting for approval.");
  return true;
}
