/**
 * The admission.k8s.io/v1 AdmissionReview exchange: a request in, a response with the same uid
 * out. The answer always allows: the webhook only ever adds the agent, and a pod it cannot handle
 * is better started as written than refused (the configuration's failurePolicy is Ignore for the
 * same reason).
 */
import type { Pod } from 'kubernetes-types/core/v1';
import type { AgentConfig } from '../../../protocol/src/agent/agentConfig.js';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import { mutatePod, type MutatePodOptions } from './mutatePod.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

/** The fields of an AdmissionRequest that the webhook reads (kubernetes-types has no admission group). */
export interface AdmissionRequest {
  uid: string;
  kind?: { group: string; version: string; kind: string };
  subResource?: string;
  operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  namespace?: string;
  name?: string;
  object?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** Base64 of the JSON Patch. */
  patch?: string;
}

export interface AdmissionReview {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export interface ReviewOptions extends Omit<MutatePodOptions, 'namespace'> {
  logger: Logger;
  /** Called for each pod (not a dry run) the agent is injected into, with its workload. */
  onInjected?: (workload: AgentConfig['workload']) => void;
}

/** The body is not an AdmissionReview we can answer; the server says 400. */
export class BadAdmissionReview extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadAdmissionReview';
  }
}

export function review(body: unknown, opts: ReviewOptions): AdmissionReview {
  const { logger } = opts;
  if (!isObject(body) || body.kind !== 'AdmissionReview') throw new BadAdmissionReview('the body is not an AdmissionReview');
  if (body.apiVersion !== ADMISSION_API_VERSION) throw new BadAdmissionReview(`unsupported AdmissionReview version ${JSON.stringify(body.apiVersion)}; this webhook speaks ${ADMISSION_API_VERSION}`);
  const request = body.request;
  if (!isObject(request) || typeof request.uid !== 'string' || !request.uid) throw new BadAdmissionReview('the AdmissionReview has no request uid');
  const req = request as unknown as AdmissionRequest;
  const answer = (response: Omit<AdmissionResponse, 'uid' | 'allowed'> = {}): AdmissionReview => ({
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    response: { uid: req.uid, allowed: true, ...response },
  });

  const isPodCreate = req.kind?.group === '' && req.kind.kind === 'Pod' && req.operation === 'CREATE' && !req.subResource;
  if (!isPodCreate) {
    logger.debug('not a pod creation; allowed unchanged', { uid: req.uid, kind: req.kind?.kind, operation: req.operation, subResource: req.subResource });
    return answer();
  }
  const pod = req.object as Pod | undefined;
  const namespace = req.namespace || pod?.metadata?.namespace || '';
  const where = { uid: req.uid, namespace, pod: pod?.metadata?.name || pod?.metadata?.generateName || '' };
  if (!isObject(pod) || !isObject(pod.spec)) {
    logger.warn('the request carries no pod; allowed unchanged', where);
    return answer();
  }
  try {
    const { patch, problems, config } = mutatePod(pod, { image: opts.image, managerAddress: opts.managerAddress, namespace });
    if (patch.length === 0) {
      logger.warn('traffic-agent not injected', { ...where, problems });
      return answer();
    }
    logger.info('injecting the traffic-agent', { ...where, workload: config && `${config.workload.kind}/${config.workload.name}`, dryRun: req.dryRun === true });
    if (config && req.dryRun !== true) opts.onInjected?.(config.workload);
    return answer({ patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
  } catch (e) {
    // A pod shape mutatePod did not foresee must not keep the pod from being created.
    logger.error('cannot inject the traffic-agent; allowed unchanged', { ...where, error: e instanceof Error ? e.message : String(e) });
    return answer();
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
