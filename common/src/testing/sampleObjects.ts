/**
 * The sample workloads of the local test cluster (test/cluster/manifests/samples.yaml) as the API
 * server returns them — defaults filled in, resourceVersion set — for the tests of planning (daemon)
 * and of removing an agent (common, traffic-manager).
 */
import type { Deployment, ReplicaSet, StatefulSet } from 'kubernetes-types/apps/v1';
import type { Container, ContainerPort, PodTemplateSpec, Service, ServicePort } from 'kubernetes-types/core/v1';

export const NAMESPACE = 'samples';

export function appContainer(name: string, args: string[], ports: ContainerPort[], containerName = 'app'): Container {
  return {
    name: containerName,
    image: 'docker.io/library/telepath-samples:dev',
    imagePullPolicy: 'Never',
    args,
    ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'SAMPLE_GREETING', value: `hello from ${name}` },
      { name: 'SAMPLE_SECRET', valueFrom: { secretKeyRef: { name: 'sample-secret', key: 'token' } } },
    ],
    volumeMounts: [{ name: 'config', mountPath: '/etc/sample', readOnly: true }],
    resources: {},
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  };
}

function podTemplate(app: string, containers: Container[]): PodTemplateSpec {
  return {
    metadata: { labels: { app } },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers,
      volumes: [{ name: 'config', configMap: { name: 'sample-config', defaultMode: 420 } }],
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      securityContext: {},
    },
  };
}

export function deployment(name: string, containers: Container[], replicas = 1): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NAMESPACE, labels: { app: name }, resourceVersion: '1041', generation: 1, uid: `uid-${name}` },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: podTemplate(name, containers),
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    },
  };
}

export function service(name: string, ports: ServicePort[], selector: Record<string, string> = { app: name }): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NAMESPACE, resourceVersion: '1077', uid: `uid-svc-${name}` },
    spec: {
      selector,
      ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
      type: 'ClusterIP',
      clusterIP: '10.96.0.42',
      clusterIPs: ['10.96.0.42'],
      sessionAffinity: 'None',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      internalTrafficPolicy: 'Cluster',
    },
  };
}

const echoContainers = [appContainer('echo', ['http-echo', '--port', '8080'], [{ name: 'http', containerPort: 8080 }])];
export const echo = deployment('echo', echoContainers, 2);
export const echoService = service('echo', [{ name: 'http', port: 8080, targetPort: 'http' }]);

export const grpcEcho = deployment('grpc-echo', [appContainer('grpc-echo', ['grpc-echo', '--port', '50051'], [{ containerPort: 50051 }])]);
export const grpcEchoService = service('grpc-echo', [{ name: 'grpc', port: 50051, targetPort: 50051, appProtocol: 'kubernetes.io/h2c' }]);

export const tcpEcho = deployment('tcp-echo', [appContainer('tcp-echo', ['tcp-echo', '--port', '9000'], [{ name: 'echo', containerPort: 9000 }])]);
export const tcpEchoService = service('tcp-echo', [{ name: 'echo', port: 9000, targetPort: 'echo' }]);

export const udpEcho = deployment('udp-echo', [
  appContainer('udp-echo', ['udp-echo', '--port', '9001'], [{ name: 'echo', containerPort: 9001, protocol: 'UDP' }]),
]);
export const udpEchoService = service('udp-echo', [{ name: 'echo', port: 9001, targetPort: 'echo', protocol: 'UDP' }]);

export const web: StatefulSet = {
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'web', namespace: NAMESPACE, labels: { app: 'web' }, resourceVersion: '1100' },
  spec: {
    replicas: 2,
    serviceName: 'web',
    podManagementPolicy: 'Parallel',
    selector: { matchLabels: { app: 'web' } },
    template: podTemplate('web', [appContainer('web', ['http-echo', '--port', '8080'], [{ name: 'http', containerPort: 8080 }])]),
  },
};
export const webService: Service = (() => {
  const s = service('web', [{ name: 'http', port: 8080, targetPort: 'http' }]);
  return { ...s, spec: { ...s.spec, clusterIP: 'None', clusterIPs: ['None'] } };
})();

const multiContainer = (tcpTarget: ContainerPort) =>
  appContainer('multi', ['multi', '--http-port', '8080', '--tcp-port', '9000'], [{ name: 'http', containerPort: 8080 }, tcpTarget]);
export const multi = deployment('multi', [multiContainer({ name: 'tcp', containerPort: 9000 })]);
export const multiService = service('multi', [
  { name: 'http', port: 80, targetPort: 'http' },
  { name: 'tcp', port: 9000, targetPort: 'tcp' },
]);
/** multi as the intercept brief describes it: the second port has a numeric targetPort. */
export const multiNumericService = service('multi', [
  { name: 'http', port: 80, targetPort: 'http' },
  { name: 'tcp', port: 9000, targetPort: 9000 },
]);

/** The ReplicaSet that the echo Deployment's controller makes. */
export const echoReplicaSet: ReplicaSet = {
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: {
    name: 'echo-6d4cf56db6',
    namespace: NAMESPACE,
    labels: { app: 'echo', 'pod-template-hash': '6d4cf56db6' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'echo', uid: 'uid-echo', controller: true, blockOwnerDeletion: true }],
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'echo', 'pod-template-hash': '6d4cf56db6' } },
    template: { ...podTemplate('echo', echoContainers), metadata: { labels: { app: 'echo', 'pod-template-hash': '6d4cf56db6' } } },
  },
};

/** Every sample Service, as a list call returns them (plus the ExternalName one, which selects nothing). */
export const allServices: Service[] = [
  echoService,
  grpcEchoService,
  tcpEchoService,
  udpEchoService,
  webService,
  multiService,
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'external', namespace: NAMESPACE }, spec: { type: 'ExternalName', externalName: 'echo.samples.svc.cluster.local' } },
];
