/**
 * The reference workload: mountain-bike trail trackers. Each tracker rides a random walk over a
 * trail: GPS position, altitude (sometimes outside the plausible 500–4500 m band: a GPS glitch),
 * speed, heart rate and a slowly draining battery. Pure and seeded: same seed, same ride.
 */
import type { Random } from "../../core/index.js";

export interface TrailReading {
  lat: number;
  lon: number;
  altitude: number;
  speed_kmh: number;
  heart_rate: number;
  battery_pct: number;
}

export class TrailTracker {
  private lat: number;
  private lon: number;
  private alt: number;
  private speed: number;
  private hr: number;
  private battery: number;
  private heading: number;

  constructor(private readonly rnd: Random) {
    // Somewhere in the Alps.
    this.lat = 46.0 + rnd.next() * 1.5;
    this.lon = 7.0 + rnd.next() * 3.0;
    this.alt = 900 + rnd.next() * 2500;
    this.speed = 8 + rnd.next() * 20;
    this.hr = 110 + rnd.next() * 40;
    this.battery = 60 + rnd.next() * 40;
    this.heading = rnd.next() * 2 * Math.PI;
  }

  /** Advance by `dtSec` seconds; `outlierP` is the chance this reading's altitude is a glitch. */
  step(dtSec: number, outlierP: number): TrailReading {
    const r = this.rnd;
    this.heading += (r.next() - 0.5) * 0.4;
    this.speed = clamp(this.speed + (r.next() - 0.5) * 3, 0, 65);
    const meters = (this.speed / 3.6) * dtSec;
    this.lat += (Math.cos(this.heading) * meters) / 111_320;
    this.lon += (Math.sin(this.heading) * meters) / (111_320 * Math.cos((this.lat * Math.PI) / 180));
    const climb = (r.next() - 0.5) * 4 * dtSec;
    this.alt = clamp(this.alt + climb, 520, 4450);
    this.hr = clamp(this.hr + (r.next() - 0.5) * 4 + (climb > 0 ? 0.5 : -0.3), 60, 195);
    this.battery = Math.max(0, this.battery - 0.0005 * dtSec);
    let altitude = this.alt;
    if (r.next() < outlierP) altitude = r.next() < 0.5 ? -50 + r.next() * 500 : 4600 + r.next() * 4000;
    return {
      lat: round(this.lat, 6),
      lon: round(this.lon, 6),
      altitude: round(altitude, 1),
      speed_kmh: round(this.speed, 1),
      heart_rate: Math.round(this.hr),
      battery_pct: round(this.battery, 2),
    };
  }
}

/** Generic test signals for the `signals` scenario. */
export function signalValue(shape: "sine" | "random-walk" | "step" | "counter", tMs: number, periodMs: number, min: number, max: number, prev: number, rnd: Random): number {
  const span = max - min;
  switch (shape) {
    case "sine":
      return min + span * (0.5 + 0.5 * Math.sin((2 * Math.PI * tMs) / periodMs));
    case "random-walk":
      return clamp(prev + (rnd.next() - 0.5) * span * 0.02, min, max);
    case "step":
      return Math.floor(tMs / periodMs) % 2 === 0 ? min : max;
    case "counter":
      return prev + 1;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
