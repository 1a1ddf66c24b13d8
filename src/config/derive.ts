/**
 * Deriving a delegate's stdin from the wrapper entry, as libcni derives a list member's
 * (libcni/api.go buildOneConfig + injectRuntimeConfig), with the spec's rule that the
 * `capabilities` key is not passed on (docs/architecture.md, "Where each CNI rule lives").
 */
import type { Delegate, Json, JsonObject } from './wrapper-entry.ts';

export interface DeriveInput {
  readonly delegate: Delegate;
  /** The network (list) name and cniVersion: every delegate gets the list's. */
  readonly name: string;
  readonly cniVersion: string;
  /** The runtimeConfig the wrapper received; restricted here to the delegate's capabilities. */
  readonly runtimeConfig: JsonObject;
  /** Injected only when defined (ADD: previous delegate's result; CHECK/DEL: the received one). */
  readonly prevResult?: Json | undefined;
  /** Further keys to inject (GC's cni.dev/valid-attachments). */
  readonly inject?: JsonObject;
}

/**
 * Returns the delegate's config object. Other keys pass through unaltered; a delegate's own
 * literal `runtimeConfig` is kept when none of its capabilities has runtime data (as libcni).
 */
export function deriveDelegateConfig(input: DeriveInput): JsonObject {
  const { capabilities, ...rest } = input.delegate;
  const out: JsonObject = { ...rest, name: input.name, cniVersion: input.cniVersion };
  if (input.prevResult !== undefined) out.prevResult = input.prevResult;
  if (input.inject) Object.assign(out, input.inject);
  const rc: JsonObject = {};
  for (const [cap, enabled] of Object.entries(capabilities ?? {})) {
    const data = input.runtimeConfig[cap];
    if (enabled && data !== undefined) rc[cap] = data;
  }
  if (Object.keys(rc).length > 0) out.runtimeConfig = rc;
  return out;
}

/** The union of the delegates' enabled capabilities: what the wrapper entry must advertise. */
export function unionCapabilities(delegates: readonly Delegate[]): Record<string, boolean> {
  const caps: Record<string, boolean> = {};
  for (const d of delegates) {
    for (const [cap, enabled] of Object.entries(d.capabilities ?? {})) {
      if (enabled) caps[cap] = true;
    }
  }
  return caps;
}
