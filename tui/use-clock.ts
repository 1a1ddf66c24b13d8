/**
 * The clock, as actions: the state only knows the time it was last told, which keeps the
 * reducer pure and lets tests fix the time.
 */
import { useEffect } from 'react';
import type { Action } from './state.ts';

/**
 * Dispatches a tick with `now()` (epoch ms) when mounted and then every `everyMs`: what makes
 * in-flight durations run and the spinner turn. With `everyMs` ≤ 0 there is only the first
 * tick (tests, which inject a fixed `now`).
 */
export function useClock(dispatch: (action: Action) => void, now: () => number, everyMs: number): void {
  useEffect(() => {
    dispatch({ type: 'tick', nowMs: now() });
    if (everyMs <= 0) return;
    const timer = setInterval(() => dispatch({ type: 'tick', nowMs: now() }), everyMs);
    return () => clearInterval(timer);
  }, [dispatch, now, everyMs]);
}
