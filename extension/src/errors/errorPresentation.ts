/**
 * How the extension shows a failure: the daemon's message as it is (a user error already says
 * what to do), and for the internal category a pointer to the log. Pure, so the wording is tested.
 */
import { categoryOf, ErrorCode, type ErrorCategory } from '../../../protocol/src/daemon';
import { CancelledError, DeadlineError } from '../util/cancellation.js';

export interface ErrorPresentation {
  /** undefined: say nothing (the user cancelled). */
  message?: string;
  category: ErrorCategory;
  severity: 'error' | 'warning';
  /** Offer the "Telepath" log (and the daemon's). */
  offerLog: boolean;
  /** The daemon speaks another protocol: offer to replace it. */
  offerRestart: boolean;
}

export const SEE_LOG = 'See the Telepath log.';

interface CodedError {
  code: number;
  message: string;
  data?: unknown;
}

function isCoded(e: unknown): e is CodedError {
  return typeof e === 'object' && e !== null && typeof (e as CodedError).code === 'number' && typeof (e as CodedError).message === 'string';
}

/** `doing` names the action, e.g. "Cannot intercept echo". */
export function presentError(error: unknown, doing?: string): ErrorPresentation {
  const prefix = (m: string): string => (doing ? `${doing}: ${m}` : capitalize(m));
  if (error instanceof CancelledError || (isCoded(error) && error.code === ErrorCode.RequestCancelled)) {
    return { category: 'user', severity: 'warning', offerLog: false, offerRestart: false };
  }
  if (error instanceof DeadlineError) {
    return { message: prefix(`${error.message}. ${SEE_LOG}`), category: 'internal', severity: 'error', offerLog: true, offerRestart: false };
  }
  if (isCoded(error)) {
    const category = categoryOf(error);
    const text = sentence(error.message);
    switch (category) {
      case 'internal':
        return { message: prefix(`${text} ${SEE_LOG}`), category, severity: 'error', offerLog: true, offerRestart: false };
      case 'user':
        return {
          message: prefix(text),
          category,
          severity: 'warning',
          offerLog: false,
          offerRestart: error.code === ErrorCode.IncompatibleProtocol,
        };
      case 'config':
      case 'cluster':
        return { message: prefix(text), category, severity: 'error', offerLog: false, offerRestart: false };
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: prefix(`${sentence(message)} ${SEE_LOG}`), category: 'internal', severity: 'error', offerLog: true, offerRestart: false };
}

/** A final full stop, so messages read the same wherever they come from. */
function sentence(message: string): string {
  const m = message.trim();
  if (!m) return 'something failed.';
  return /[.!?)]$/.test(m) ? m : `${m}.`;
}

function capitalize(m: string): string {
  return m.length === 0 ? m : m[0]!.toUpperCase() + m.slice(1);
}
