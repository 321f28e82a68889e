import { Foundation1763700000001 } from "./0001-foundation.ts";
import { Directory1763700000002 } from "./0002-directory.ts";
import { Scim1763700000003 } from "./0003-scim.ts";
import { Federation1763700000004 } from "./0004-federation.ts";
import { DeliveryQueue1763700000005 } from "./0005-delivery-queue.ts";
import { AccountMoves1763700000006 } from "./0006-account-moves.ts";
import { Sessions1763700000007 } from "./0007-sessions.ts";
import { Reports1763700000008 } from "./0008-reports.ts";
import { Saml1763700000009 } from "./0009-saml.ts";
import { Authz1763700000010 } from "./0010-authz.ts";
import { SamlBrowser1763700000011 } from "./0011-saml-browser.ts";
import { UserNameNfc1763700000012 } from "./0012-user-name-nfc.ts";
import { AuditDetailSize1763700000013 } from "./0013-audit-detail-size.ts";
import { EventChange1763700000014 } from "./0014-event-change.ts";
import { Leases1763700000015 } from "./0015-leases.ts";
import { RateLimit1763700000016 } from "./0016-rate-limit.ts";
import { Archive1763700000017 } from "./0017-archive.ts";
import { Api1763700000018 } from "./0018-api.ts";
import { Media1763700000019 } from "./0019-media.ts";
import { ApiIds1763700000020 } from "./0020-api-ids.ts";
import { IdpConnection1763700000021 } from "./0021-idp-connection.ts";
import { ProvisioningLog1763700000022 } from "./0022-provisioning-log.ts";
import { ArchiveLinks1763700000023 } from "./0023-archive-links.ts";
import { DraftAndRemoteMedia1763700000024 } from "./0024-draft-and-remote-media.ts";
import { ErasureAndFollowerHistory1763700000025 } from "./0025-erasure-and-follower-history.ts";
import { FeedVersions1763700000026 } from "./0026-feed-versions.ts";
import { ScheduledMediaAndClaims1763700000027 } from "./0027-scheduled-media-and-claims.ts";
import { BoostIds1763700000028 } from "./0028-boost-ids.ts";
import { ScheduledAttempts1763700000029 } from "./0029-scheduled-attempts.ts";
import { ReceivedBoosts1763700000030 } from "./0030-received-boosts.ts";
import { OldBoostIds1763700000031 } from "./0031-old-boost-ids.ts";
import { ReceivedBoostIndexes1763700000032 } from "./0032-received-boost-indexes.ts";
import { SanitizeRemoteHtml1763700000033 } from "./0033-sanitize-remote-html.ts";

/** Every migration, in order. Applied migrations are never edited: add a new one. */
export const migrations = [
  Foundation1763700000001,
  Directory1763700000002,
  Scim1763700000003,
  Federation1763700000004,
  DeliveryQueue1763700000005,
  AccountMoves1763700000006,
  Sessions1763700000007,
  Reports1763700000008,
  Saml1763700000009,
  Authz1763700000010,
  SamlBrowser1763700000011,
  UserNameNfc1763700000012,
  AuditDetailSize1763700000013,
  EventChange1763700000014,
  Leases1763700000015,
  RateLimit1763700000016,
  Archive1763700000017,
  Api1763700000018,
  Media1763700000019,
  ApiIds1763700000020,
  IdpConnection1763700000021,
  ProvisioningLog1763700000022,
  ArchiveLinks1763700000023,
  DraftAndRemoteMedia1763700000024,
  ErasureAndFollowerHistory1763700000025,
  FeedVersions1763700000026,
  ScheduledMediaAndClaims1763700000027,
  BoostIds1763700000028,
  ScheduledAttempts1763700000029,
  ReceivedBoosts1763700000030,
  OldBoostIds1763700000031,
  ReceivedBoostIndexes1763700000032,
  SanitizeRemoteHtml1763700000033,
];
