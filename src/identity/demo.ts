/**
 * The demo organization that `npm start` brings up on the default embedded database only
 * (DESIGN: with DATABASE_URL set Herald starts with an empty directory). Seeded once, when the
 * directory is empty, in one transaction.
 */
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { addMembers, createGroup, createPerson, type NewPerson } from "./directory.ts";
import { PersonSchema } from "./entities.ts";

const DEMO_DOMAIN = "demo.example";

const PEOPLE: readonly (NewPerson & { groups: readonly string[] })[] = [
  {
    userName: `jane@${DEMO_DOMAIN}`,
    givenName: "Jane",
    familyName: "Doe",
    title: "Senior Recruiter",
    department: "Talent",
    groups: ["Recruiting"],
  },
  {
    userName: `sam.lee@${DEMO_DOMAIN}`,
    givenName: "Sam",
    familyName: "Lee",
    title: "Recruiting Coordinator",
    department: "Talent",
    groups: ["Recruiting"],
  },
  {
    userName: `priya@${DEMO_DOMAIN}`,
    givenName: "Priya",
    familyName: "Natarajan",
    title: "Head of Communications",
    department: "Communications",
    groups: ["PR"],
  },
  {
    userName: `alex@${DEMO_DOMAIN}`,
    givenName: "Alex",
    familyName: "Kim",
    title: "Support Lead",
    department: "Customer Support",
    groups: ["Support"],
  },
  {
    userName: `morgan@${DEMO_DOMAIN}`,
    givenName: "Morgan",
    familyName: "Reyes",
    title: "Compliance Officer",
    department: "Legal",
    groups: ["Compliance"],
  },
  {
    userName: `chris@${DEMO_DOMAIN}`,
    givenName: "Chris",
    familyName: "Park",
    title: "Recruiter",
    department: "Talent",
    groups: [],
    active: false,
  },
];

const GROUPS = ["Recruiting", "PR", "Support", "Compliance"];

/** Seeds the demo directory if it is empty. Returns true when it seeded. */
export async function seedDemoOrganization(db: Database): Promise<boolean> {
  return db.transaction(async (em) => {
    if ((await em.getRepository(PersonSchema).count()) > 0) return false;
    const groups = new Map<string, string>();
    for (const name of GROUPS) groups.set(name, (await createGroup(em, { displayName: name })).id);
    for (const { groups: memberOf, ...p } of PEOPLE) {
      const person = await createPerson(em, {
        ...p,
        email: p.userName,
        externalId: `demo-${p.userName.split("@")[0]}`,
        displayName: `${p.givenName} ${p.familyName}`,
      });
      for (const g of memberOf) await addMembers(em, groups.get(g)!, [person.id]);
    }
    await recordAudit(em, {
      actor: "system",
      action: "demo.seed",
      detail: { people: PEOPLE.length, groups: GROUPS.length },
    });
    return true;
  });
}
