/**
 * A progress bar for long loops (training, evaluation, benchmarks):
 *
 *   const p = new Progress({ total: steps, label: 'train' });
 *   for (...) { ...; p.update(step, { loss, tokensPerSec }); if (...) p.log('saved ckpt'); }
 *   p.stop();
 *
 * On a terminal it redraws one line (cli-progress): `label [bar] step/total | loss | tok/s | ETA`,
 * with log lines printed above it. When the stream is not a TTY (CI, pipes, files) it never
 * redraws: it prints a plain line every `everyPercent` percent of the steps, and log lines as is.
 */
import cliProgress from 'cli-progress';

export interface ProgressOptions {
  /** Number of steps; update() takes the step just completed, 0..total. */
  total: number;
  /** Shown at the start of every line. */
  label?: string;
  /** Where to draw (default process.stdout). A stream whose isTTY is not true gets plain lines. */
  stream?: NodeJS.WriteStream | (NodeJS.WritableStream & { isTTY?: boolean });
  /** Plain mode only: print a line each time this many percent of the steps have passed (default 10). */
  everyPercent?: number;
}

export interface ProgressValues {
  loss?: number;
  tokensPerSec?: number;
}

/** 12345 -> '12.3k'; keeps 3 significant digits. */
export function formatRate(x: number): string {
  if (!Number.isFinite(x)) return '-';
  const units: [number, string][] = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [scale, unit] of units) if (Math.abs(x) >= scale) return `${(x / scale).toPrecision(3)}${unit}`;
  return x.toPrecision(3);
}

/** Seconds -> '1h02m', '3m05s', '42s'. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(r).padStart(2, '0')}s`;
  return `${r}s`;
}

const fmtLoss = (loss: number | undefined): string => (loss === undefined ? '-' : loss.toFixed(4));

export class Progress {
  readonly total: number;
  readonly label: string;
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly everyPercent: number;
  private readonly started = performance.now();
  private multi: cliProgress.MultiBar | null = null;
  private bar: cliProgress.SingleBar | null = null;
  private step = 0;
  private values: ProgressValues = {};
  /** Plain mode: the last bucket (step·100/everyPercent/total) printed. */
  private printedBucket = -1;
  private lastPrintedStep = -1;
  private stopped = false;

  constructor(opts: ProgressOptions) {
    if (!Number.isInteger(opts.total) || opts.total < 0) throw new RangeError(`Progress: total must be a non-negative integer, got ${opts.total}`);
    this.total = opts.total;
    this.label = opts.label ?? '';
    this.stream = opts.stream ?? process.stdout;
    this.tty = this.stream.isTTY === true;
    this.everyPercent = opts.everyPercent ?? 10;
    if (!(this.everyPercent > 0)) throw new RangeError(`Progress: everyPercent must be positive, got ${this.everyPercent}`);
    if (this.tty) {
      this.multi = new cliProgress.MultiBar(
        {
          stream: this.stream,
          format: `${this.label ? `${this.label} ` : ''}[{bar}] {value}/{total} | loss {lossText} | {tpsText} tok/s | ETA {eta_formatted}`,
          hideCursor: true,
          barsize: 24,
          etaBuffer: 50,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multi.create(this.total, 0, this.payload());
    }
  }

  /** Records that `step` of `total` steps are done, with the latest loss and throughput. */
  update(step: number, values: ProgressValues = {}): void {
    if (this.stopped) return;
    this.step = step;
    this.values = { ...this.values, ...values };
    if (this.bar) {
      this.bar.update(step, this.payload());
      return;
    }
    const bucket = this.total === 0 ? 0 : Math.floor((step * 100) / this.everyPercent / this.total);
    if (bucket > this.printedBucket) {
      this.printedBucket = bucket;
      this.stream.write(`${this.plainLine()}\n`);
    }
  }

  /** Prints a line (a message, an evaluation result) above the bar. */
  log(msg: string): void {
    const text = msg.endsWith('\n') ? msg : `${msg}\n`;
    if (this.multi && !this.stopped) {
      this.multi.log(text);
      this.multi.update(); // flush now rather than at the next frame
    } else {
      this.stream.write(text);
    }
  }

  /** Draws the final state and releases the terminal. Safe to call twice. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.multi) {
      this.multi.update(); // flushes pending log lines, which stop() alone would drop
      this.multi.stop();
    } else if (this.step !== this.lastPrintedStep) {
      this.stream.write(`${this.plainLine()}\n`);
    }
  }

  private plainLine(): string {
    this.lastPrintedStep = this.step;
    const elapsed = (performance.now() - this.started) / 1000;
    const pct = this.total === 0 ? 100 : (100 * this.step) / this.total;
    const eta = this.step > 0 ? (elapsed / this.step) * (this.total - this.step) : NaN;
    const parts = [
      `${this.label ? `${this.label} ` : ''}${this.step}/${this.total} (${pct.toFixed(0)}%)`,
      `loss ${fmtLoss(this.values.loss)}`,
      `${this.values.tokensPerSec === undefined ? '-' : formatRate(this.values.tokensPerSec)} tok/s`,
      `elapsed ${formatDuration(elapsed)}`,
      `ETA ${formatDuration(eta)}`,
    ];
    return parts.join(' | ');
  }

  private payload(): Record<string, string> {
    return {
      lossText: fmtLoss(this.values.loss),
      tpsText: this.values.tokensPerSec === undefined ? '-' : formatRate(this.values.tokensPerSec),
    };
  }
}
