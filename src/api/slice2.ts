/**
 * The client API's second slice, composed from the services: statuses as shown (local and remote),
 * scheduled statuses, notifications/conversations/markers, status actions and account routes
 * (mounted on the API router by src/app.ts), and the worker that publishes scheduled statuses
 * (started by src/server.ts under the cluster lease).
 */
import { createRemote } from "../federation/remote.ts";
import type { Services } from "../services.ts";
import { accountRoutes } from "./accounts-routes.ts";
import { type ApiAuth, createApiAuth } from "./auth.ts";
import { notificationRoutes } from "./notifications.ts";
import { createPublisher } from "./publish.ts";
import { createRemoteAccounts } from "./remote-accounts.ts";
import { createScheduled, createScheduledWorker } from "./scheduled.ts";
import { statusActionRoutes } from "./status-actions.ts";
import { createStatuses } from "./statuses.ts";
import { createWire } from "./wire.ts";

export function apiSlice2(services: Services, auth: ApiAuth) {
  const { config, db, accounts, posting, drafts, federation } = services;
  const wire = createWire(config, db);
  const remote = createRemote({ federation, config });
  const remoteAccounts = createRemoteAccounts({ db, remote });
  const statuses = createStatuses({
    config,
    db,
    wire,
    accounts,
    remoteAccounts,
    boostUri: (accountId, activityId) => remote.reactionIri(accountId, "announce", activityId),
  });
  const publisher = createPublisher({ posting, drafts });
  return {
    statuses,
    scheduled: createScheduled({ config, db, auth, publisher, media: services.media }),
    more: [
      accountRoutes({ config, db, auth, wire, accounts, remoteAccounts }),
      notificationRoutes({ config, db, auth, wire, statuses, remoteAccounts, accounts }),
      statusActionRoutes({ db, auth, wire, statuses, posting, remote }),
    ],
  };
}

/** The worker that publishes scheduled statuses, in a worker process, while `held()`. */
export function scheduledStatusWorker(services: Services, holder: string, held: () => boolean) {
  const auth = createApiAuth({
    oauth: services.oauth,
    directory: services.directory,
    accounts: services.accounts,
    authz: services.authz,
  });
  return createScheduledWorker({
    db: services.db,
    auth,
    oauth: services.oauth,
    publisher: createPublisher({ posting: services.posting, drafts: services.drafts }),
    media: services.media,
    holder,
    held,
  });
}
