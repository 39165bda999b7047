/**
 * What delivery needs from a logger. pino's Logger fits it structurally, so
 * delivery does not depend on observability (which the composition root wires).
 */
export interface DeliveryLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** For tests and tools that do not want logs. */
export const silentLogger: DeliveryLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
