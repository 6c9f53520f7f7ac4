/** A line of text in the tree: "Not connected", an error, an empty namespace; maybe clickable. */
import type { NodeCommand, Presentation } from './presentation.js';

export interface MessageNode extends Presentation {
  kind: 'message';
}

export function messageNode(parentId: string, label: string, options: { icon?: string; color?: string; command?: NodeCommand; tooltip?: string } = {}): MessageNode {
  return {
    kind: 'message',
    id: `message:${parentId}:${label}`,
    label,
    ...(options.tooltip ? { tooltip: options.tooltip } : {}),
    icon: { id: options.icon ?? 'info', ...(options.color ? { color: options.color } : {}) },
    contextValue: 'telepathMessage',
    collapsible: 'none',
    ...(options.command ? { command: options.command } : {}),
  };
}
