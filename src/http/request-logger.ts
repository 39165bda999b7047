/**
 * `request.log`, made on first use.
 *
 * Fastify gives each request a child of the app's logger carrying its
 * request id. pino's child() serializes those bindings (through the
 * redaction paths) when it is made: ~9 µs a request, measured at 1,000
 * events/s (bench/triggers), for a logger that most requests never use
 * (request lines are logged at debug; errors are the common use). This
 * factory hands out a stand-in that makes the real child only when a line
 * is logged at an enabled level, or when something asks for more than the
 * log methods (its level, a child of it).
 */
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

type Factory = NonNullable<FastifyServerOptions['childLoggerFactory']>;
type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type Bindings = Parameters<Factory>[1];
type ChildOptions = Parameters<Factory>[2];

/** pino's own answer; a logger without isLevelEnabled() is asked by making the child. */
function enabled(logger: FastifyBaseLogger, level: string): boolean {
  const ask = (logger as Partial<{ isLevelEnabled(level: string): boolean }>).isLevelEnabled;
  return ask ? ask.call(logger, level) : true;
}

/**
 * One object a request, its methods on the prototype: a request makes no
 * closures (a version with a closure per log method allocated nine
 * objects a request).
 */
class LazyRequestLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildOptions,
  ) {}

  private real(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }

  private log(level: LevelName, args: unknown[]): void {
    // The child has its parent's level until someone sets its own (which makes it).
    if (this.made === undefined && !enabled(this.parent, level)) return;
    this.real()[level](...(args as Parameters<FastifyBaseLogger['info']>));
  }

  fatal(...args: unknown[]): void {
    this.log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.log('error', args);
  }
  warn(...args: unknown[]): void {
    this.log('warn', args);
  }
  info(...args: unknown[]): void {
    this.log('info', args);
  }
  debug(...args: unknown[]): void {
    this.log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.log('trace', args);
  }
  silent(): void {}

  child(childBindings: Bindings, childOptions?: ChildOptions): FastifyBaseLogger {
    return this.real().child(childBindings, childOptions);
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real().level = level;
  }
}

export const lazyRequestLogger: Factory = (parent, bindings, options) =>
  new LazyRequestLogger(parent, bindings, options);
