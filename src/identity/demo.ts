/**
 * The demo organization that `npm start` brings up on the default embedded database only
 * (DESIGN: with DATABASE_URL set Herald starts with an empty directory). Seeded once, when the
 * directory is empty, through the Directory's commands — the path SCIM takes, so
 * HERALD_HANDLE_FROM, the handle rules, the audit log and the domain events all apply.
 *
 * The former employee is a real one: hired, then deactivated. The accounts consumer makes his
 * actor when he is provisioned and suspends it when he leaves, so the home page, /verify, the
 * verification API and WebFinger all answer "former" for him.
 */
import type { Caller, Directory, PersonFields } from "./directory.ts";
import type { EventDispatcher } from "./events.ts";

const DEMO_DOMAIN = "demo.example";

interface DemoPerson extends Partial<PersonFields> {
  readonly userName: string;
  readonly givenName: string;
  readonly familyName: string;
  readonly groups: readonly string[];
  /** Left the organization (deactivated after being hired). */
  readonly left?: boolean;
}

const PEOPLE: readonly DemoPerson[] = [
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
    left: true,
  },
];

const GROUPS = ["Recruiting", "PR", "Support", "Compliance"];

const SEED: Caller = { name: "system", via: "demo" };

/**
 * Seeds the demo directory if it is empty. Returns true when it seeded.
 *
 * Two steps, as it happens in a company: everyone is hired (one transaction), the event consumers
 * see the hires (`events.drain()`: the accounts consumer makes each person's actor), then the
 * former employee leaves. Hired and deactivated in one go, nobody would ever have seen him hired.
 */
export async function seedDemoOrganization(
  directory: Directory,
  events: Pick<EventDispatcher, "drain">,
): Promise<boolean> {
  if (!(await directory.isEmpty())) return false;
  const hired = await directory.batch(async (d) => {
    const ids = new Map<string, string[]>(GROUPS.map((g) => [g, []]));
    const leavers: string[] = [];
    for (const { groups: memberOf, left, ...p } of PEOPLE) {
      const created = await d.createPerson(
        {
          fields: {
            ...p,
            externalId: `demo-${p.userName.split("@")[0]}`,
            displayName: `${p.givenName} ${p.familyName}`,
          },
          emails: [{ value: p.userName, type: "work", primary: true }],
          document: null,
          active: true,
        },
        SEED,
      );
      if (!created.ok) throw new Error(`demo seed: ${created.reason}`);
      for (const g of memberOf) ids.get(g)!.push(created.person.id);
      if (left) leavers.push(created.person.id);
    }
    for (const name of GROUPS) {
      const g = await d.createGroup(
        {
          displayName: name,
          externalId: null,
          document: null,
          members: ids.get(name)!.map((personId) => ({ personId, display: null })),
        },
        SEED,
      );
      if (!g.ok) throw new Error(`demo seed: ${g.reason}`);
    }
    return { leavers };
  });
  if ("reason" in hired) throw new Error(`demo seed refused: ${hired.reason}`);
  await events.drain();
  for (const id of hired.leavers) {
    const gone = await directory.deactivatePerson(id, SEED);
    if (!gone.ok) throw new Error(`demo seed refused: ${gone.reason}`);
  }
  return true;
}
