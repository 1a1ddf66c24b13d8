/**
 * Ink lays out with yoga-layout, whose module awaits its WASM at the top level. The
 * self-contained executable's CLI is CommonJS, which cannot; its build (scripts/cjs-patches.ts)
 * makes yoga-layout publish that load under this key instead, and the TUI awaits it before its
 * first render. Run from the ES modules (dist/cli.js, the sources) the key is never set and the
 * wait is nothing.
 */
export const YOGA_READY = 'cni-trace.yoga-ready';

export async function yogaReady(): Promise<void> {
  await (globalThis as Record<symbol, unknown>)[Symbol.for(YOGA_READY)];
}
