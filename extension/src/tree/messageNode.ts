/** A line of text in the tree: "Not connected", "Loading…", an error, an empty namespace; maybe clickable. */
import type { NodeCommand, Presentation } from './presentation.js';

export interface MessageNode extends Presentation {
  kind: 'message';
}

export interface MessageOptions {
  icon?: string;
  color?: string;
  command?: NodeCommand;
  tooltip?: string;
  description?: string;
  /** `viewItem` in package.json menus; telepathMessage unless given. */
  contextValue?: string;
}

export function messageNode(parentId: string, label: string, options: MessageOptions = {}): MessageNode {
  return {
    kind: 'message',
    id: `message:${parentId}:${label}`,
    label,
    ...(options.description ? { description: options.description } : {}),
    ...(options.tooltip ? { tooltip: options.tooltip } : {}),
    icon: { id: options.icon ?? 'info', ...(options.color ? { color: options.color } : {}) },
    contextValue: options.contextValue ?? 'telepathMessage',
    collapsible: 'none',
    ...(options.command ? { command: options.command } : {}),
  };
}
