/** Gathers what debug/debugLanguages.ts needs to know about a workspace folder. */
import * as vscode from 'vscode';
import { targetFramework, type WorkspaceFacts } from '../debug/debugLanguages.js';

export async function workspaceFacts(folder: vscode.WorkspaceFolder): Promise<WorkspaceFacts> {
  const entries = await vscode.workspace.fs.readDirectory(folder.uri).then(undefined, () => [] as [string, vscode.FileType][]);
  const files = entries.filter(([, type]) => type === vscode.FileType.File).map(([name]) => name);
  const facts: WorkspaceFacts = { files };
  if (files.includes('package.json')) {
    try {
      const pkg = JSON.parse(Buffer.from(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder.uri, 'package.json'))).toString('utf8')) as { main?: unknown };
      if (typeof pkg.main === 'string' && pkg.main.trim()) facts.packageMain = pkg.main.trim();
    } catch {
      // An unreadable package.json tells us nothing.
    }
  }
  const projects = files.filter((f) => /\.(csproj|fsproj)$/.test(f));
  if (projects.length === 1) {
    const name = projects[0]!.replace(/\.(csproj|fsproj)$/, '');
    const xml = Buffer.from(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder.uri, projects[0]!)).then(undefined, () => new Uint8Array())).toString('utf8');
    const tfm = targetFramework(xml);
    facts.dotnetProject = { name, ...(tfm ? { targetFramework: tfm } : {}) };
  }
  const editor = vscode.window.activeTextEditor;
  if (editor && editor.document.uri.scheme === 'file') {
    const rel = vscode.workspace.asRelativePath(editor.document.uri, false);
    if (vscode.workspace.getWorkspaceFolder(editor.document.uri)?.uri.toString() === folder.uri.toString()) {
      facts.activeFile = { path: rel.split('\\').join('/'), languageId: editor.document.languageId };
    }
  }
  return facts;
}
