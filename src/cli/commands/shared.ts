import type { SluiceConfig } from '../../config/config.js';
import { loadConfig } from '../../config/load.js';

/** The --config option every command that reads the configuration takes. */
export const CONFIG_FLAG = '-c, --config <path>';
export const CONFIG_HELP = 'configuration file (default: ./sluice.config.json when present)';

export function configFrom(options: { config?: string }): Readonly<SluiceConfig> {
  return loadConfig({ ...(options.config ? { file: options.config } : {}), env: process.env });
}
