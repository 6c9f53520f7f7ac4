/**
 * What every tree node shows, in plain data: the converter (ui/converter.ts) turns it into a
 * vscode.TreeItem. Icons are codicon ids, colours theme colour ids.
 */
export interface IconRef {
  id: string;
  color?: string;
}

export interface NodeCommand {
  command: string;
  title: string;
  arguments?: unknown[];
}

export interface Presentation {
  /** Stable across refreshes, so VS Code keeps the node's expansion and selection. */
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  icon: IconRef;
  /** `viewItem` in package.json menus. */
  contextValue: string;
  collapsible: 'none' | 'collapsed' | 'expanded';
  command?: NodeCommand;
}
