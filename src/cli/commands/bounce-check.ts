import type { Command } from 'commander';
import { createReplyClassifier, parseReplyLine } from '../../core/bounce.js';
import { BUILTIN_BOUNCE_RULES } from '../../core/bounce-rules.js';
import { CONFIG_FLAG, CONFIG_HELP, configFrom } from './shared.js';

/**
 * `sluice bounce-check "<reply line>"`: how Sluice would classify a reply,
 * with the operator's rules of the configuration (`bounces.rulesFile`) in
 * front of the built-in ones. Prints one JSON object.
 */
export function registerBounceCheck(program: Command): void {
  program
    .command('bounce-check')
    .description('classify an SMTP reply line with the bounce rules; prints the result as JSON')
    .argument('<reply>', 'the reply line, e.g. "550 5.1.1 <a@example.com>: User unknown"')
    .option(CONFIG_FLAG, CONFIG_HELP)
    .action((reply: string, options: { config?: string }) => {
      const config = configFrom(options);
      const classify = createReplyClassifier(BUILTIN_BOUNCE_RULES, config.bounces?.rules ?? []);
      const parsed = parseReplyLine(reply);
      const result = classify(parsed);
      const delivered = parsed.code !== undefined && parsed.code < 400;
      const output = {
        code: parsed.code ?? null,
        enhancedCode: parsed.enhancedCode ?? null,
        category: result.category,
        permanent: result.permanent,
        suppress: result.suppress,
        outcome: delivered ? 'delivered' : result.permanent ? 'bounced' : 'deferred',
        matched: result.matched,
      };
      process.stdout.write(JSON.stringify(output, null, 2) + '\n');
    });
}
