/**
 * One convention for every state machine (OTA update, cloud link, Modbus transaction, LwM2M
 * registration): a pure `step(state, input[, env]) → { state, effects }`. The machine decides;
 * its owner performs the effects (timers, I/O, logging) and feeds what happened back in as
 * inputs. Names: `<Name>State`, `<Name>Input`, `<Name>Effect`, and the function `step` (or
 * `<name>Step` where a module holds two machines). An input a state does not accept returns the
 * same state and no effects, or throws when that is a programming error.
 */
export interface Transition<S, E> {
  readonly state: S;
  readonly effects: readonly E[];
}

export type Step<S, I, E, Env = void> = Env extends void
  ? (state: S, input: I) => Transition<S, E>
  : (state: S, input: I, env: Env) => Transition<S, E>;

/** No effects: the common case of a pure state change. */
export function stay<S, E = never>(state: S): Transition<S, E> {
  return { state, effects: [] };
}
