/** The cluster tree's nodes: a discriminated union on `kind`, one file per kind. */
import type { ContextNode } from './contextNode.js';
import type { MessageNode } from './messageNode.js';
import type { NamespaceNode } from './namespaceNode.js';
import type { PortNode } from './portNode.js';
import type { WorkloadNode } from './workloadNode.js';

export type ClusterNode = ContextNode | NamespaceNode | WorkloadNode | PortNode | MessageNode;

export type { ContextNode, MessageNode, NamespaceNode, PortNode, WorkloadNode };
