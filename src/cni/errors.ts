/**
 * CNI error values. The codes are the spec's well-known error codes
 * (https://github.com/containernetworking/cni/blob/main/SPEC.md#error).
 * Errors are plain values so the dispatcher can print them without a stack trace.
 */

export const ErrorCode = {
  /** libcni turns a plugin failure without diagnostic JSON into code 0; we keep that for transparency. */
  Unspecified: 0,
  IncompatibleCniVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironmentVariables: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  Internal: 999,
} as const;

/** A CNI error as it travels on stdout: `{cniVersion, code, msg, details}`. */
export interface CniError {
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

/** Builds a CNI error value; `details` is omitted when empty, as the Go types do. */
export function cniError(code: number, msg: string, details?: string): CniError {
  return details ? { code, msg, details } : { code, msg };
}

/** True for a value shaped like a CniError (used to avoid wrapping an error in an error). */
export function isCniError(value: unknown): value is CniError {
  return typeof value === 'object' && value !== null &&
    typeof (value as CniError).code === 'number' && typeof (value as CniError).msg === 'string';
}

/** The JSON a plugin prints on stdout for an error, with the config's cniVersion when known. */
export function errorJson(err: CniError, cniVersion: string): string {
  const out: Record<string, unknown> = { cniVersion, code: err.code, msg: err.msg };
  if (err.details) out.details = err.details;
  return JSON.stringify(out);
}
