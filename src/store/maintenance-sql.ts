import { FINAL_STATUSES } from '../core/message.js';

/** The final states as an SQL list (`'delivered', 'bounced', …`), for both dialects. */
export const FINAL_STATUSES_SQL = FINAL_STATUSES.map((s) => `'${s}'`).join(', ');
