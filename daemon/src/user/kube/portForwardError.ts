/** A port-forward that could not be opened or that the pod side broke off. */
export class PortForwardError extends Error {
  constructor(
    message: string,
    /** The API server's HTTP status, when it answered the request with one. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PortForwardError';
  }
}

/** The pod and port a port-forward goes to. */
export interface PodPort {
  namespace: string;
  pod: string;
  port: number;
}
