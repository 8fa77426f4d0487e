/** `route: [{ when: "<condition>", to: alarms }, { to: cloud }]`: the first matching case wins. */
import { compilePredicate } from "../expression.js";
import type { Event } from "../../../core/index.js";
import type { Envelope, Operator, Outputs } from "../operator.js";

export interface RouteCase {
  when?: string | undefined;
  to: string[];
}

export class RouteOperator implements Operator {
  dropped = 0;
  late = 0;
  private readonly cases: { test: ((e: Event) => boolean) | undefined; to: string[] }[];
  constructor(cases: RouteCase[]) {
    this.cases = cases.map((c) => ({ test: c.when === undefined ? undefined : compilePredicate(c.when), to: c.to }));
  }
  process(batch: Envelope[], out: Outputs): void {
    for (const env of batch) {
      const c = this.cases.find((x) => !x.test || x.test(env.e));
      if (!c) {
        this.dropped++;
        continue;
      }
      for (const t of c.to) {
        let arr = out.ports.get(t);
        if (!arr) out.ports.set(t, (arr = []));
        arr.push(env);
      }
    }
  }
}
