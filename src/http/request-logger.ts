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
type LogMethod = FastifyBaseLogger['info'];

/** pino's own answer; a logger without isLevelEnabled() is asked by making the child. */
function enabled(logger: FastifyBaseLogger, level: string): boolean {
  const ask = (logger as Partial<{ isLevelEnabled(level: string): boolean }>).isLevelEnabled;
  return ask ? ask.call(logger, level) : true;
}

export const lazyRequestLogger: Factory = (parent, bindings, options) => {
  let child: FastifyBaseLogger | undefined;
  const real = (): FastifyBaseLogger => (child ??= parent.child(bindings, options));
  const method =
    (level: LevelName): LogMethod =>
    (...args: Parameters<LogMethod>) => {
      // The child has its parent's level until someone sets its own (which makes it).
      if (child === undefined && !enabled(parent, level)) return;
      real()[level](...args);
    };
  return {
    fatal: method('fatal'),
    error: method('error'),
    warn: method('warn'),
    info: method('info'),
    debug: method('debug'),
    trace: method('trace'),
    silent: () => undefined,
    child: (childBindings, childOptions) => real().child(childBindings, childOptions),
    get level(): string {
      return child?.level ?? parent.level;
    },
    set level(level: string) {
      real().level = level;
    },
  };
};
