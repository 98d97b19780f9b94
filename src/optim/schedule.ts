/**
 * Learning-rate schedules: functions from the step index (0 for the first optimizer step) to a
 * multiplier of the base learning rate, e.g. `opt.lr = baseLr * schedule(step)` before `opt.step()`.
 */
export type Schedule = (step: number) => number;

/** Always 1. */
export function constantSchedule(): Schedule {
  return () => 1;
}

/** Options of {@link warmupCosineSchedule}. */
export interface WarmupCosineOptions {
  /** Steps of linear warm-up: step s < warmupSteps gets (s + 1) / warmupSteps, reaching 1 on the last. */
  warmupSteps: number;
  /** Step at which the cosine reaches minFactor; it stays there after. */
  totalSteps: number;
  /** Final multiplier (default 0). */
  minFactor?: number;
}

/**
 * Linear warm-up, then cosine decay from 1 (at step warmupSteps) to minFactor (at totalSteps):
 * minFactor + (1 − minFactor)·½(1 + cos(π·(s − warmupSteps)/(totalSteps − warmupSteps))).
 */
export function warmupCosineSchedule(opts: WarmupCosineOptions): Schedule {
  const { warmupSteps, totalSteps, minFactor = 0 } = opts;
  if (!(warmupSteps >= 0 && totalSteps >= warmupSteps)) {
    throw new Error(`warmupCosineSchedule: need 0 ≤ warmupSteps ≤ totalSteps, got ${warmupSteps} and ${totalSteps}`);
  }
  if (!(minFactor >= 0 && minFactor <= 1)) throw new Error(`warmupCosineSchedule: minFactor must be in [0, 1], got ${minFactor}`);
  const decaySteps = totalSteps - warmupSteps;
  return (step) => {
    if (step < warmupSteps) return (step + 1) / warmupSteps;
    if (step >= totalSteps) return minFactor;
    const progress = (step - warmupSteps) / decaySteps;
    return minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}
