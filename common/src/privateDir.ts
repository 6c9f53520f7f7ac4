/**
 * The directory that holds the daemon's socket when there is no XDG_RUNTIME_DIR: it lies in the
 * shared temporary directory (`/tmp/telepath-<uid>`), where any local user may create it first —
 * and then plant a socket there that answers the CLI (and hands it an environment to run). So the
 * daemon, the CLI and the extension use it only when it is a real directory (not a symbolic link),
 * owned by the user, with mode 0700; anything else is refused with what is wrong and what to do.
 */
import fs from 'node:fs';

const WHAT_TO_DO = 'or set XDG_RUNTIME_DIR to a directory only you can use (your login session usually provides /run/user/<uid>)';

/** What is wrong with `dir` as the user's private directory; undefined when it is fine or absent. */
export function privateDirProblem(dir: string, uid: number): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return `${dir} cannot be examined (${(err as Error).message}); remove it, ${WHAT_TO_DO}`;
  }
  if (st.isSymbolicLink()) {
    return `${dir} is a symbolic link, not a directory: someone may have put it there to catch Telepath's socket. Remove it (rm ${dir}), ${WHAT_TO_DO}`;
  }
  if (!st.isDirectory()) return `${dir} is not a directory. Remove it (rm ${dir}), ${WHAT_TO_DO}`;
  if (st.uid !== uid) {
    return (
      `${dir} belongs to uid ${st.uid}, not to you (uid ${uid}): another user may have made it to answer in the Telepath daemon's place. ` +
      `Remove it (as root: rm -r ${dir}), ${WHAT_TO_DO}`
    );
  }
  const mode = st.mode & 0o7777;
  if (mode !== 0o700) {
    return (
      `${dir} has mode ${mode.toString(8).padStart(4, '0')}, not 0700: other users could reach or add to what is in it. ` +
      `Remove it (rm -r ${dir}; Telepath makes it again, private), ${WHAT_TO_DO}`
    );
  }
  return undefined;
}

/** Creates `dir` mode 0700 if it is missing; throws with privateDirProblem's message if it is not private. */
export function ensurePrivateDir(dir: string, uid: number): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chmodSync(dir, 0o700); // whatever the umask
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  // Checked after creating, never before: whatever won a race for the name is what is examined.
  const problem = privateDirProblem(dir, uid);
  if (problem) throw new Error(problem);
}
