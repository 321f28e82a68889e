/**
 * The Fedify federation's type as the rest of Herald sees it. Its own module, so the inbox and the
 * outbound code need not import the module that builds the federation (which imports them).
 */
import type { Federation } from "@fedify/fedify";

/** What every Fedify callback receives: the request id for log correlation. */
export interface FederationContextData {
  readonly requestId: string;
}

export type HeraldFederation = Federation<FederationContextData>;
