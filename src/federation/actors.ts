/** Actor documents: Person for people, Organization for shared accounts and the organization. */
import type { Context } from "@fedify/fedify";
import { type Actor, Endpoints, Image, Organization, Person, PropertyValue, Tombstone } from "@fedify/vocab";
import { Temporal } from "@js-temporal/polyfill";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import { escapeHtml } from "../http/html.ts";
import type { Directory } from "../identity/directory.ts";
import { publicIdentity } from "../identity/standing.ts";
import { type ActorRow, ActorSchema } from "./entities.ts";

export function profileUrl(origin: URL, handle: string): URL {
  return new URL(`/@${handle}`, origin);
}

/** The verification page of one account (the target of its "Verified at" profile field). */
export function verificationUrl(origin: URL, fullHandle: string): URL {
  const url = new URL("/verify", origin);
  url.searchParams.set("q", fullHandle);
  return url;
}

const instant = (d: Date) => Temporal.Instant.fromEpochMilliseconds(d.getTime()) as never;

export async function actorDocument(
  ctx: Context<unknown>,
  deps: {
    readonly db: Database;
    readonly directory: Pick<Directory, "personById">;
    readonly config: Pick<Config, "origin" | "orgName" | "accounts" | "handleDomain">;
  },
  actor: ActorRow,
): Promise<Actor | Tombstone> {
  const { db, directory, config } = deps;
  const id = ctx.getActorUri(actor.id);
  if (actor.deletedAt) return new Tombstone({ id, deleted: instant(actor.deletedAt) });
  const pairs = await ctx.getActorKeyPairs(actor.id);
  const personId = actor.personId ?? actor.formerPersonId;
  const person = personId ? await directory.personById(personId) : null;
  // One rule for what the public sees of a person (src/identity/standing.ts): a former
  // employee's account keeps its handle and says so, but shows no name, title or photo.
  const who = publicIdentity(actor, person);
  const current = who.status === "active" && !actor.movedToId;
  const fields: PropertyValue[] = [];
  for (const f of config.accounts.profileFields) {
    const v = f === "title" ? who.title : who.department;
    if (v)
      fields.push(new PropertyValue({ name: f === "title" ? "Title" : "Department", value: escapeHtml(v) }));
  }
  // "Verified at <org>": a link to this account's verification page, which links back with
  // rel="me", so stock Mastodon shows the green check. Only while the account speaks for the org.
  if (current) {
    const handle = `@${actor.handle}@${config.handleDomain}`;
    const href = verificationUrl(config.origin, handle).href;
    fields.push(
      new PropertyValue({
        name: `Verified at ${config.orgName}`,
        value: `<a href="${escapeHtml(href)}" rel="me nofollow noopener noreferrer" target="_blank">${escapeHtml(new URL(href).host)}/verify</a>`,
      }),
    );
  }
  const summary =
    who.status === "former"
      ? actor.kind === "person"
        ? `No longer at ${config.orgName}: this account does not speak for ${config.orgName}.`
        : `Closed: this account no longer speaks for ${config.orgName}.`
      : (actor.summary ??
        (actor.kind === "person"
          ? `${who.title ? `${who.title} at ` : "At "}${config.orgName}.`
          : actor.kind === "shared"
            ? `An official account of ${config.orgName}.`
            : `${config.orgName} on the fediverse.`));
  const aliases: URL[] = [];
  const movedFrom = await db.run((em) => em.getRepository(ActorSchema).findBy({ movedToId: actor.id }));
  for (const old of movedFrom) aliases.push(ctx.getActorUri(old.id));
  // People: the photo the directory sent (SCIM photos); accounts of the organization: its logo.
  const avatar =
    actor.kind === "person"
      ? who.photoUrl
      : who.status === "active"
        ? config.accounts.orgAvatarUrl
        : undefined;
  const values = {
    id,
    icon: avatar ? new Image({ url: new URL(avatar) }) : null,
    // The previous actor of a renamed account, so followers may move (Mastodon's alsoKnownAs).
    aliases,
    successor: actor.movedToId ? ctx.getActorUri(actor.movedToId) : null,
    preferredUsername: actor.handle,
    // Former employees: no name (Mastodon then shows the handle).
    name: who.displayName,
    summary: `<p>${escapeHtml(summary)}</p>`,
    url: profileUrl(config.origin, actor.handle),
    inbox: ctx.getInboxUri(actor.id),
    outbox: ctx.getOutboxUri(actor.id),
    followers: ctx.getFollowersUri(actor.id),
    following: ctx.getFollowingUri(actor.id),
    endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
    publicKey: pairs[0]?.cryptographicKey,
    assertionMethods: pairs.map((p) => p.multikey),
    manuallyApprovesFollowers: actor.manualApproval,
    discoverable: true,
    // Mastodon's toot:suspended: a deactivated person's account, kept for a reactivation. Read
    // from the directory as the rest of the document is, so every process serves it from the
    // change on, before the federation bridge has marked the actor (whose row says the same).
    suspended: actor.suspendedAt !== null || (actor.kind === "person" && who.status === "former"),
    published: instant(actor.createdAt),
    attachments: fields,
    // The organization's roster of verified accounts (ActivityStreams `streams`).
    streams: actor.kind === "org" ? [ctx.getCollectionUri("verified", { identifier: actor.id })] : [],
  };
  return actor.kind === "person" ? new Person(values) : new Organization(values);
}
