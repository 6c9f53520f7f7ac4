/**
 * The workbench as a user sees it: Debian's headless Chromium driven by playwright-core, and the few
 * gestures the tests need (command palette, status bar, notifications, tree rows, screenshots).
 * Selectors are VS Code's own DOM classes (1.100): `.monaco-workbench`, `.statusbar-item`,
 * `.notification-toast`, `.monaco-list-row`, `.quick-input-widget`.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { artifactsDir, e2eDir, inWorkstationNamespace, type CodeServer } from './codeServer.js';

export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

export interface BrowserOptions {
  /** Run Chromium in the workstation namespace (where an inWorkstation code-server listens). */
  inWorkstation?: boolean;
}

export async function launchBrowser(opts: BrowserOptions = {}): Promise<Browser> {
  const wrap = (opts.inWorkstation ?? false) && !inWorkstationNamespace();
  return chromium.launch({
    executablePath: wrap ? path.join(e2eDir, 'chromiumInWorkstation.sh') : chromiumPath,
    headless: true,
    // No sandbox as root; nothing that talks to the outside (updates, sync, QUIC probes).
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    timeout: 60_000,
  });
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface OpenOptions extends BrowserOptions {
  /** Folder to open; default: the workspace code-server was started for. */
  folder?: string;
  viewport?: { width: number; height: number };
  /** Browser permissions for the page, e.g. clipboard-read to read what a command copied. */
  permissions?: string[];
}

export class Workbench {
  /** Errors the page threw (uncaught), for a test's failure message. */
  readonly pageErrors: string[] = [];

  private constructor(
    readonly browser: Browser,
    readonly page: Page,
  ) {
    page.on('pageerror', (e) => this.pageErrors.push(String(e)));
  }

  /** Launches Chromium (in the server's namespace) and opens the workbench; waits until it shows. */
  static async open(server: CodeServer, opts: OpenOptions = {}): Promise<Workbench> {
    const browser = await launchBrowser({ inWorkstation: opts.inWorkstation ?? server.inWorkstation });
    try {
      const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1400, height: 900 }, permissions: opts.permissions ?? [] });
      const page = await context.newPage();
      const wb = new Workbench(browser, page);
      await page.goto(server.workbenchUrl(opts.folder), { timeout: 60_000 });
      await wb.waitForWorkbench();
      return wb;
    } catch (e) {
      await browser.close();
      throw e;
    }
  }

  /** The workbench is laid out and the status bar drawn. */
  async waitForWorkbench(timeoutMs = 60_000): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: timeoutMs });
    await this.page.locator('.statusbar').waitFor({ state: 'visible', timeout: timeoutMs });
  }

  /**
   * Runs a command from the palette by its title as the palette shows it ("Telepath: Show Version"):
   * F1, type, wait until the first entry is that command, Enter.
   */
  async runCommand(title: string, timeoutMs = 15_000): Promise<void> {
    const widget = this.page.locator('.quick-input-widget');
    const input = widget.locator('input.input');
    const first = widget.locator('.quick-input-list .monaco-list-row').first().filter({ hasText: new RegExp(`^\\s*${escapeRegExp(title)}`) });
    const deadline = Date.now() + timeoutMs;
    const left = (cap: number): number => Math.min(cap, Math.max(1, deadline - Date.now()));
    // Typed again until the command shows: right after start-up, under load, the palette may not
    // list an extension's contributed commands yet, and a filter typed then does not refresh. And
    // opened again when it closed by itself: the quick input closes when something else takes the
    // focus, e.g. a terminal that was just created.
    for (;;) {
      if (!(await input.isVisible())) {
        await this.page.keyboard.press('F1');
        await input.waitFor({ state: 'visible', timeout: left(3_000) }).catch(() => undefined);
      }
      const typed = await input
        .fill('>', { timeout: left(3_000) })
        .then(() => input.fill(`>${title}`, { timeout: left(3_000) }))
        .then(() => true, () => false);
      const found = typed && (await first.waitFor({ state: 'visible', timeout: left(3_000) }).then(() => true, () => false));
      if (found && (await input.press('Enter', { timeout: left(3_000) }).then(() => true, () => false))) break;
      if (Date.now() >= deadline) {
        const shown = await widget.locator('.quick-input-list .monaco-list-row').allInnerTexts();
        await this.page.keyboard.press('Escape');
        throw new Error(`the command palette has no "${title}" first within ${timeoutMs} ms; it shows: ${JSON.stringify(shown)}`);
      }
    }
    await widget.waitFor({ state: 'hidden', timeout: timeoutMs });
  }

  /**
   * Opens a quick pick by clicking `opener` (a status bar entry) and clicks its entry matching
   * `entry`; clicks the opener again when the pick did not show or closed by itself before the
   * entry could be clicked (as the palette in runCommand, it closes when something takes the focus).
   */
  async pickFrom(opener: Locator, entry: RegExp, timeoutMs = 15_000): Promise<void> {
    const row = this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: entry }).first();
    const deadline = Date.now() + timeoutMs;
    const left = (cap: number): number => Math.min(cap, Math.max(1, deadline - Date.now()));
    for (;;) {
      if (!(await row.isVisible())) await opener.click({ timeout: left(3_000) }).catch(() => undefined);
      const clicked = await row
        .waitFor({ state: 'visible', timeout: left(3_000) })
        .then(() => row.click({ timeout: left(3_000) }))
        .then(() => true, () => false);
      if (clicked) return;
      if (Date.now() >= deadline) {
        const shown = await this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').allInnerTexts();
        throw new Error(`no quick pick entry matching ${entry} within ${timeoutMs} ms; it shows: ${JSON.stringify(shown)}`);
      }
    }
  }

  /** The text of every status bar entry, left to right. */
  async statusBarText(): Promise<string[]> {
    const texts = await this.page.locator('.statusbar-item').allInnerTexts();
    return texts.map((t) => t.trim()).filter((t) => t !== '');
  }

  /** Waits until a status bar entry's text matches; returns that text. */
  async waitForStatusBar(text: string | RegExp, timeoutMs = 30_000): Promise<string> {
    const item = this.page.locator('.statusbar-item', { hasText: text }).first();
    await item.waitFor({ state: 'visible', timeout: timeoutMs });
    return (await item.innerText()).trim();
  }

  /** The messages of the notification toasts now shown. */
  async notifications(): Promise<string[]> {
    return this.page.locator('.notification-toast .notification-list-item-message').allInnerTexts();
  }

  /** Waits for a notification toast whose message matches; returns the message. Toasts hide by
   * themselves after a while, so the error lists every message seen while waiting. */
  async waitForNotification(text: string | RegExp, timeoutMs = 30_000): Promise<string> {
    const matches = (m: string): boolean => (typeof text === 'string' ? m.includes(text) : text.test(m));
    const seen = new Set<string>();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const m of await this.notifications()) {
        if (matches(m)) return m.trim();
        seen.add(m.trim());
      }
      if (Date.now() >= deadline) break;
      await this.page.waitForTimeout(200);
    }
    throw new Error(`no notification matching ${String(text)} within ${timeoutMs} ms; seen: ${JSON.stringify([...seen])}`);
  }

  /** A row of a list or tree (Explorer, a view's tree) whose label is `label`. */
  treeRow(label: string): Locator {
    return this.page
      .locator('.monaco-list-row')
      .filter({ has: this.page.locator('.label-name, .monaco-highlighted-label', { hasText: new RegExp(`^${escapeRegExp(label)}$`) }) })
      .first();
  }

  async clickTreeRow(label: string, timeoutMs = 15_000): Promise<void> {
    const row = this.treeRow(label);
    await row.waitFor({ state: 'visible', timeout: timeoutMs });
    await row.click();
  }

  /** Saves a PNG of the page as artifacts/NAME.png; returns its path. */
  async screenshot(name: string): Promise<string> {
    mkdirSync(artifactsDir, { recursive: true });
    const file = path.join(artifactsDir, `${name.replace(/[^\w.-]+/g, '-')}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}
