/**
 * The languages "Intercept and Debug" writes launch configurations for, which debugger each
 * needs, and how a workspace is recognised as one of them. Pure: the UI gathers the facts.
 */
export type DebugLanguage = 'node' | 'python' | 'go' | 'java' | 'dotnet';

export interface LanguageInfo {
  label: string;
  /** The launch configuration's "type". */
  debugType: string;
  /** The extension that provides the debugger; undefined when VS Code has it built in. */
  extensionId?: string;
}

export const DEBUG_LANGUAGES: Record<DebugLanguage, LanguageInfo> = {
  node: { label: 'Node.js', debugType: 'node' },
  python: { label: 'Python (debugpy)', debugType: 'debugpy', extensionId: 'ms-python.debugpy' },
  go: { label: 'Go (Delve)', debugType: 'go', extensionId: 'golang.go' },
  java: { label: 'Java', debugType: 'java', extensionId: 'vscjava.vscode-java-debug' },
  dotnet: { label: '.NET (C#, F#)', debugType: 'coreclr', extensionId: 'ms-dotnettools.csharp' },
};

export const ALL_LANGUAGES = Object.keys(DEBUG_LANGUAGES) as DebugLanguage[];

/** What the UI found in the workspace folder. */
export interface WorkspaceFacts {
  /** The names of the files at the folder's top level. */
  files: readonly string[];
  /** package.json's "main", when the folder has a package.json with one. */
  packageMain?: string;
  /** The active editor's file, relative to the folder with "/" separators, and its language id. */
  activeFile?: { path: string; languageId: string };
  /** .NET: the one project file at the top level, and its <TargetFramework>. */
  dotnetProject?: { name: string; targetFramework?: string };
}

const BY_LANGUAGE_ID: Record<string, DebugLanguage> = {
  javascript: 'node',
  typescript: 'node',
  javascriptreact: 'node',
  typescriptreact: 'node',
  python: 'python',
  go: 'go',
  java: 'java',
  csharp: 'dotnet',
  fsharp: 'dotnet',
};

const MARKER_FILES: [RegExp, DebugLanguage][] = [
  [/^package\.json$/, 'node'],
  [/^go\.mod$/, 'go'],
  [/^(pyproject\.toml|requirements\.txt|setup\.py|setup\.cfg|Pipfile|manage\.py)$/, 'python'],
  [/^(pom\.xml|build\.gradle(\.kts)?|settings\.gradle(\.kts)?)$/, 'java'],
  [/\.(csproj|fsproj|sln)$/, 'dotnet'],
];

/** The folder's likely languages, most likely first: the open file's, then its build files'. */
export function detectLanguages(facts: WorkspaceFacts): DebugLanguage[] {
  const found: DebugLanguage[] = [];
  const add = (l: DebugLanguage | undefined): void => {
    if (l && !found.includes(l)) found.push(l);
  };
  add(facts.activeFile ? BY_LANGUAGE_ID[facts.activeFile.languageId] : undefined);
  for (const [pattern, language] of MARKER_FILES) if (facts.files.some((f) => pattern.test(f))) add(language);
  return found;
}

/** The <TargetFramework> of a .csproj/.fsproj (the first of <TargetFrameworks>). */
export function targetFramework(projectXml: string): string | undefined {
  const single = /<TargetFramework>\s*([^<\s]+)\s*<\/TargetFramework>/.exec(projectXml);
  if (single) return single[1];
  const several = /<TargetFrameworks>\s*([^<]+?)\s*<\/TargetFrameworks>/.exec(projectXml);
  return several?.[1]?.split(';')[0]?.trim() || undefined;
}
