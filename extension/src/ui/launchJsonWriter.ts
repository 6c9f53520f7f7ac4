/** Reads and writes a folder's .vscode/launch.json; the edit itself is debug/launchJson.ts. */
import * as vscode from 'vscode';
import { upsertLaunchEntry, type LaunchEntry } from '../debug/launchJson.js';

export function launchJsonUri(folder: vscode.WorkspaceFolder): vscode.Uri {
  return vscode.Uri.joinPath(folder.uri, '.vscode', 'launch.json');
}

/** The text as the user sees it: an open editor's (maybe unsaved) text, else the file's, else undefined. */
export async function readLaunchJson(folder: vscode.WorkspaceFolder): Promise<string | undefined> {
  const uri = launchJsonUri(folder);
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open) return open.getText();
  try {
    return Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
  } catch {
    return undefined;
  }
}

/** Writes the entry; through the editor's document when one is open, so nothing unsaved is lost. */
export async function writeLaunchEntry(folder: vscode.WorkspaceFolder, entry: LaunchEntry): Promise<{ replaced: boolean }> {
  const uri = launchJsonUri(folder);
  const editorConfig = vscode.workspace.getConfiguration('editor', { uri, languageId: 'jsonc' });
  const indent = { insertSpaces: editorConfig.get<boolean>('insertSpaces', true), tabSize: editorConfig.get<number>('tabSize', 4) };
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open) {
    const { text, replaced } = upsertLaunchEntry(open.getText(), entry, indent);
    const edit = new vscode.WorkspaceEdit();
    edit.replace(uri, new vscode.Range(open.positionAt(0), open.positionAt(open.getText().length)), text);
    await vscode.workspace.applyEdit(edit);
    await open.save();
    return { replaced };
  }
  const current = await readLaunchJson(folder);
  const { text, replaced } = upsertLaunchEntry(current, entry, indent);
  await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(folder.uri, '.vscode'));
  await vscode.workspace.fs.writeFile(uri, Buffer.from(text, 'utf8'));
  return { replaced };
}
