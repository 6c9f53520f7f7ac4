/**
 * The launch configuration "Intercept and Debug" writes, one pure function per language. Each is
 * named "Telepath: Intercept <workload> (<namespace>)" and carries the `telepath` marker that
 * tells the debug configuration provider which intercept to start. Values the workspace does not
 * reveal (Java's main class, a .NET assembly) are left as visible placeholders and reported, so
 * the UI opens launch.json instead of starting a debugger that cannot run.
 */
import { DEBUG_LANGUAGES, type DebugLanguage, type WorkspaceFacts } from './debugLanguages.js';
import type { LaunchEntry } from './launchJson.js';
import { MARKER_PROPERTY, workloadName, type TelepathMarker } from './telepathMarker.js';

export interface GeneratedEntry {
  entry: LaunchEntry;
  /** Properties still holding a placeholder the user must replace. */
  placeholders: string[];
}

export function launchConfigName(marker: Pick<TelepathMarker, 'workload' | 'namespace'>): string {
  return `Telepath: Intercept ${workloadName(marker.workload)} (${marker.namespace})`;
}

const FOLDER = '${workspaceFolder}';

export function launchEntry(language: DebugLanguage, marker: TelepathMarker, facts: WorkspaceFacts): GeneratedEntry {
  const base = { name: launchConfigName(marker), type: DEBUG_LANGUAGES[language].debugType, request: 'launch' };
  const placeholders: string[] = [];
  let specific: Record<string, unknown>;
  switch (language) {
    case 'node':
      specific = { program: nodeProgram(facts, placeholders), skipFiles: ['<node_internals>/**'] };
      break;
    case 'python':
      specific = { program: pythonProgram(facts, placeholders), console: 'integratedTerminal' };
      break;
    case 'go':
      specific = { mode: 'auto', program: FOLDER };
      break;
    case 'java':
      placeholders.push('mainClass');
      specific = { mainClass: '<fully.qualified.MainClass>' };
      break;
    case 'dotnet': {
      const p = facts.dotnetProject;
      if (!p?.targetFramework) placeholders.push('program');
      const program = p?.targetFramework
        ? `${FOLDER}/bin/Debug/${p.targetFramework}/${p.name}.dll`
        : `${FOLDER}/bin/Debug/<target-framework>/${p?.name ?? '<project>'}.dll`;
      specific = { program, cwd: FOLDER, stopAtEntry: false };
      break;
    }
  }
  return { entry: { ...base, ...specific, [MARKER_PROPERTY]: marker } as LaunchEntry, placeholders };
}

/**
 * A Telepath entry made from one of the user's own launch configurations (or an earlier Telepath
 * entry): everything kept but the name and the marker.
 */
export function launchEntryFrom(base: Record<string, unknown>, marker: TelepathMarker): LaunchEntry {
  const rest: Record<string, unknown> = { ...base };
  delete rest.name;
  delete rest[MARKER_PROPERTY];
  return { name: launchConfigName(marker), ...rest, [MARKER_PROPERTY]: marker } as LaunchEntry;
}

/** Only launch configurations get the pod's environment; attach ones run elsewhere. */
export function canBaseOn(config: Record<string, unknown>): boolean {
  return config.request === 'launch' && typeof config.type === 'string' && typeof config.name === 'string';
}

function nodeProgram(facts: WorkspaceFacts, placeholders: string[]): string {
  if (facts.packageMain) return `${FOLDER}/${facts.packageMain.replace(/^\.\//, '')}`;
  const open = facts.activeFile;
  if (open && /\.(m|c)?(js|ts)x?$/.test(open.path)) return `${FOLDER}/${open.path}`;
  for (const f of ['index.js', 'server.js', 'app.js', 'main.js']) if (facts.files.includes(f)) return `${FOLDER}/${f}`;
  placeholders.push('program');
  return `${FOLDER}/<your entry point>.js`;
}

function pythonProgram(facts: WorkspaceFacts, placeholders: string[]): string {
  for (const f of ['main.py', 'app.py', 'server.py', '__main__.py']) if (facts.files.includes(f)) return `${FOLDER}/${f}`;
  const open = facts.activeFile;
  if (open && open.path.endsWith('.py')) return `${FOLDER}/${open.path}`;
  placeholders.push('program');
  return `${FOLDER}/<your entry point>.py`;
}
