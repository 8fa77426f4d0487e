/** `filter: "<condition>"`: keeps the events for which the condition holds. */
import { compilePredicate } from "../expression.js";
import type { Envelope, Operator, Outputs } from "../operator.js";

export class FilterOperator implements Operator {
  dropped = 0;
  late = 0;
  private readonly test;
  constructor(condition: string) {
    this.test = compilePredicate(condition);
  }
  process(batch: Envelope[], out: Outputs): void {
    const test = this.test;
    const main = out.main;
    for (let i = 0; i < batch.length; i++) {
      const env = batch[i]!;
      if (test(env.e)) main.push(env);
      else this.dropped++;
    }
  }
}
