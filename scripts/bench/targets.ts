/**
 * The bench's targets: each figure that has one says what it is and whether this run met it.
 * A full run that misses any exits 3 after printing the table (main.ts), so a regression is
 * loud; the BENCH_QUICK=1 smoke run (too short to measure speed) prints them, not enforcing.
 */
import type { Pair, Results, ServerId } from './report.js';

export interface Verdict {
  met: boolean;
  /** What was compared, e.g. "1.62x >= 1.5x". */
  shown: string;
}

export interface Target {
  /** The target as a reader sees it, e.g. ">= 1.5x Distribution". */
  text: string;
  /** Undefined when the run did not measure what the target needs (the figure is then "not measured"). */
  check(results: Results): Verdict | undefined;
}

const fmt = (n: number): string => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2));

/** Keel's figure over the other server's of the pair, at least (or, for a lower-is-better figure, at most) `factor`. */
export function ratio(id: string, pair: Pair, op: '>=' | '<=' | '<', factor: number, text: string): Target {
  return {
    text,
    check: (r) => {
      const x = r.ratio(id, pair);
      if (x === undefined) return undefined;
      return { met: op === '>=' ? x >= factor : op === '<=' ? x <= factor : x < factor, shown: `${fmt(x)}x ${op} ${fmt(factor)}x` };
    },
  };
}

/** One server's figure against a fixed bound. */
export function bound(id: string, server: ServerId, op: '>=' | '<=' | '<' | '=', limit: number, unit: string, text: string): Target {
  return {
    text,
    check: (r) => {
      const v = r.get(id, server);
      if (v === undefined) return undefined;
      const met = op === '>=' ? v >= limit : op === '<=' ? v <= limit : op === '<' ? v < limit : v === limit;
      return { met, shown: `${fmt(v)} ${unit} ${op} ${fmt(limit)} ${unit}` };
    },
  };
}

/** Keel's figure as a share of the same row's limit (the reference: upstream direct, bare node:http, nginx). */
export function shareOfLimit(id: string, atLeast: number, text: string): Target {
  return {
    text,
    check: (r) => {
      const x = r.ratio(id, 'limit');
      if (x === undefined) return undefined;
      return { met: x >= atLeast, shown: `${Math.round(x * 100)}% >= ${Math.round(atLeast * 100)}%` };
    },
  };
}

/** Keel's figure over an extra figure of the same run (e.g. its own local GET taken in turns). */
export function overExtra(id: string, extra: string, atLeast: number, text: string): Target {
  return {
    text,
    check: (r) => {
      const v = r.get(id, 'keel');
      const ref = r.extra[extra];
      if (v === undefined || typeof ref !== 'number' || ref === 0) return undefined;
      return { met: v / ref >= atLeast, shown: `${Math.round((v / ref) * 100)}% >= ${Math.round(atLeast * 100)}%` };
    },
  };
}

/** Every one of `targets` (a row with two conditions, e.g. a ratio to Distribution and a share of the limit). */
export function allOf(...targets: Target[]): Target {
  return {
    text: targets.map((t) => t.text).join(', and '),
    check: (r) => {
      const verdicts = targets.map((t) => t.check(r));
      if (verdicts.some((v) => v === undefined)) return undefined;
      const all = verdicts as Verdict[];
      return { met: all.every((v) => v.met), shown: all.map((v) => v.shown).join('; ') };
    },
  };
}
