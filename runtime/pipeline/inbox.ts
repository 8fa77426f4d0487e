/**
 * The bounded queue in front of every operator and sink (one per consuming node: all its inputs
 * share it). Policies when full: `block` (upstream stops; ingest returns false), `drop-oldest`,
 * `drop-newest`; every drop is counted.
 */
import type { EdgePolicy } from "./config.js";
import type { Envelope } from "./operator.js";

export class Inbox {
  private items: Envelope[] = [];
  private head = 0;
  dropped = 0;
  constructor(
    readonly name: string,
    public capacity: number,
    public policy: EdgePolicy,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  room(): number {
    return Math.max(0, this.capacity - this.length);
  }

  /** Push applying the drop policies; `block` always pushes (the producer checked room first). */
  push(env: Envelope): void {
    if (this.policy !== "block" && this.length >= this.capacity) {
      this.dropped++;
      if (this.policy === "drop-newest") return;
      this.head++;
    }
    this.items.push(env);
  }

  /** Push many; with `adopt` (the caller gives up `envs`), an empty inbox takes the array itself. */
  pushAll(envs: Envelope[], adopt = false): void {
    if (adopt && this.head === 0 && this.items.length === 0 && (this.policy === "block" || envs.length <= this.capacity)) {
      this.items = envs;
      return;
    }
    if (this.policy === "block") {
      const items = this.items;
      for (let i = 0; i < envs.length; i++) items.push(envs[i]!);
      return;
    }
    for (let i = 0; i < envs.length; i++) this.push(envs[i]!);
  }

  /** Put events back at the front (a failed sink batch, restored checkpoints). */
  unshiftAll(envs: Envelope[]): void {
    if (envs.length === 0) return;
    this.items = [...envs, ...this.items.slice(this.head)];
    this.head = 0;
  }

  take(n: number): Envelope[] {
    if (this.head === 0 && n >= this.items.length) {
      const all = this.items;
      this.items = [];
      return all;
    }
    const end = Math.min(this.items.length, this.head + n);
    const out = this.items.slice(this.head, end);
    this.head = end;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  peekAll(): Envelope[] {
    return this.items.slice(this.head);
  }
}
