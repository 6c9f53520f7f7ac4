/**
 * A request to intercept that cannot be planned because of what the user asked for or how the
 * workload is built. The message names what was wrong and what to do, so a command handler can show
 * it as is (a `user` category error); anything else thrown while planning is a bug.
 */
export class InterceptPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterceptPlanError';
  }
}
