import type { ContactSnapshot } from '../core/message.js';

/**
 * The data a message's templates see: the message `variables` at the top
 * level, and the recipient as `contact` (`contact.email` and, when a contact
 * with that address exists, `contact.id` and its attributes). Variables win
 * over nothing else: `contact` is reserved and always the recipient.
 *
 *   Hello {{ contact.first_name | default: "there" }}, your code is {{ code }}.
 */
export function templateData(
  toEmail: string,
  variables: Record<string, unknown>,
  contact: ContactSnapshot | undefined,
): Record<string, unknown> {
  return {
    ...variables,
    contact: {
      ...(contact?.attributes ?? {}),
      email: toEmail,
      ...(contact ? { id: contact.id } : {}),
    },
  };
}
